/**
 * Promises about how the program is run, checked with Pulumi's own code.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import * as path from "node:path";

const root = path.join(__dirname, "..");

test("`pulumi up` runs ts-node transpile-only: Pulumi's loader sees noCheck in tsconfig.json", () => {
  // The function @pulumi/pulumi's cmd/run uses to decide transpileOnly (absent PULUMI_NODEJS_TRANSPILE_ONLY).
  const { loadTypeScriptCompilerOptions } = require("@pulumi/pulumi/tsutils");
  expect(loadTypeScriptCompilerOptions(path.join(root, "tsconfig.json")).noCheck).toBe(true);
  // ...while the typecheck script turns checking back on.
  const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
  expect(pkg.scripts.typecheck).toMatch(/tsc --noEmit --noCheck false/);
});

test("the program imports azure-native by submodule only, never the root package", () => {
  const files: string[] = [path.join(root, "index.ts")];
  const walk = (dir: string) => {
    for (const f of readdirSync(dir)) {
      const p = path.join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(".ts")) files.push(p);
    }
  };
  walk(path.join(root, "components"));
  walk(path.join(root, "lib"));
  const offenders = files.filter((f) =>
    /from\s+["']@pulumi\/azure-native["']|require\(["']@pulumi\/azure-native["']\)/.test(readFileSync(f, "utf8")),
  );
  expect(offenders).toEqual([]);
  // The check does see a root import (negative control).
  expect(/from\s+["']@pulumi\/azure-native["']/.test(`import * as azure from "@pulumi/azure-native";`)).toBe(true);
});

test("TypeScript is pinned to ~5.9 and Node >= 22 is required", () => {
  const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
  expect(pkg.devDependencies.typescript).toBe("~5.9.3");
  expect(pkg.engines.node).toBe(">=22");
});
