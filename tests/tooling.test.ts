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
  for (const dir of ["components", "probe", "settings"]) walk(path.join(root, dir));
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

describe("the house's direction: tests import the product, never the reverse", () => {
  const FIXTURES: Array<[string, string]> = [
    ["offline/fixture.mjs", `import { x } from "../tests/helpers/x.js";\nexport default x;\n`],
    ["bench/fixture.cjs", `module.exports = require("../tests/helpers/x");\n`],
    ["components/fixture.mjs", `import { x } from "../offline/x.js";\nexport default x;\n`],
    ["tests/fixture.mjs", `import { x } from "./helpers/x.js";\nimport { y } from "../offline/y.js";\nexport default [x, y];\n`],
  ];
  let linted: string[][];
  // ESLint in one child for all fixtures (jest's module sandbox cannot load eslint.config.mjs):
  // lintText with a filePath is what `eslint --stdin --stdin-filename` does, once per start-up.
  beforeAll(() => {
    const { spawnSync } = require("node:child_process");
    const script = `
      import { readFileSync } from "node:fs";
      import { ESLint } from "eslint";
      const eslint = new ESLint({ cwd: process.cwd() });
      const out = [];
      for (const [filePath, text] of JSON.parse(readFileSync(0, "utf8"))) {
        const [result] = await eslint.lintText(text, { filePath });
        out.push(result.messages.map((m) => m.ruleId + ": " + m.message));
      }
      process.stdout.write(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      cwd: root,
      input: JSON.stringify(FIXTURES),
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`eslint failed (exit ${r.status}): ${r.stderr}`);
    linted = JSON.parse(r.stdout);
  }, 60_000);
  const lint = (filePath: string, text: string): string[] => {
    const i = FIXTURES.findIndex(([f, t]) => f === filePath && t === text);
    if (i < 0) throw new Error(`${filePath}: add it to FIXTURES`);
    return linted[i];
  };

  test("the lint rule fails a product file that imports from tests/", () => {
    expect(lint("offline/fixture.mjs", `import { x } from "../tests/helpers/x.js";\nexport default x;\n`)).toEqual([
      "no-restricted-imports: '../tests/helpers/x.js' import is restricted from being used by a pattern. Product code never imports test code.",
    ]);
    expect(lint("bench/fixture.cjs", `module.exports = require("../tests/helpers/x");\n`)).toEqual([
      "no-restricted-syntax: Product code never imports test code.",
    ]);
    expect(lint("components/fixture.mjs", `import { x } from "../offline/x.js";\nexport default x;\n`)).toEqual([
      "no-restricted-imports: '../offline/x.js' import is restricted from being used by a pattern. The deployed program does not depend on the offline engine.",
    ]);
  });

  test("a test may import test helpers and the product (negative control)", () => {
    expect(
      lint("tests/fixture.mjs", `import { x } from "./helpers/x.js";\nimport { y } from "../offline/y.js";\nexport default [x, y];\n`),
    ).toEqual([]);
  });

  test("no product file imports from tests/ (git grep)", () => {
    const { execFileSync } = require("node:child_process");
    const tracked: string[] = execFileSync("git", ["ls-files", "*.ts", "*.mjs", "*.cjs", "*.js"], { cwd: root, encoding: "utf8" })
      .split("\n")
      .filter((f: string) => f && !f.startsWith("tests/") && !f.endsWith(".test.ts"));
    const importsTests = /(from\s+|require\(\s*|import\(\s*)["'](\.{1,2}\/)+tests\//;
    expect(tracked.filter((f) => importsTests.test(readFileSync(path.join(root, f), "utf8")))).toEqual([]);
    expect(importsTests.test(`import { a } from "../tests/helpers/a";`)).toBe(true);
  });
});
