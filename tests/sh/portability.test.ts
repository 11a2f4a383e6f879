/**
 * The sh probe is POSIX sh: ShellCheck in sh mode (Debian's package, fetched by offline/debianTools.ts)
 * passes every script in scripts/*.sh, and fails a negative-control fixture full of bash-isms, so a
 * checker that silently checks nothing cannot pass this suite.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { debianTool } from "../../offline/debianTools";

const ROOT = path.join(__dirname, "..", "..");
const shellcheck = (file: string) => spawnSync(debianTool("shellcheck"), ["-s", "sh", "-f", "gcc", file], { encoding: "utf8" });

const scripts = readdirSync(path.join(ROOT, "scripts")).filter((f) => f.endsWith(".sh"));

test("there is a sh script to check", () => {
  expect(scripts).toContain("identity-probe.sh");
});

test.each(scripts)("scripts/%s passes shellcheck -s sh", (file) => {
  const r = shellcheck(path.join(ROOT, "scripts", file));
  expect(r.stdout).toBe("");
  expect(r.status).toBe(0);
});

test("the negative control (bash-isms) fails, each bash-ism named", () => {
  const r = shellcheck(path.join(__dirname, "fixtures", "bashisms.sh"));
  expect(r.status).not.toBe(0);
  for (const code of ["SC3030", "SC3010", "SC3043", "SC3019", "SC3046"]) expect(r.stdout).toContain(code);
});

test("the probe is a sh script under set -eu", () => {
  const text = readFileSync(path.join(ROOT, "scripts", "identity-probe.sh"), "utf8");
  expect(text.startsWith("#!/bin/sh\n")).toBe(true);
  expect(text).toMatch(/^set -eu$/m);
});
