/**
 * tools/lab.sh, the README's "run the lab" command, against a stand-in `pulumi`
 * that records what it was asked (the real CLI cannot be downloaded here).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

const root = path.join(__dirname, "..", "..");

function run(args: string[], env: Record<string, string> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), "lab-sh-"));
  const bin = path.join(dir, "bin");
  const log = path.join(dir, "calls.log");
  require("node:fs").mkdirSync(bin);
  writeFileSync(
    path.join(bin, "pulumi"),
    `#!/usr/bin/env bash\necho "$* | backend=\${PULUMI_BACKEND_URL:-} | pfile=\${PULUMI_CONFIG_PASSPHRASE_FILE:-} | p=\${PULUMI_CONFIG_PASSPHRASE:-}" >> "${log}"\n`,
  );
  chmodSync(path.join(bin, "pulumi"), 0o755);
  const home = path.join(dir, "home");
  const r = spawnSync("bash", [path.join(root, "tools", "lab.sh"), ...args], {
    cwd: root,
    encoding: "utf8",
    env: {
      PATH: `${bin}:${path.dirname(process.execPath)}:/usr/bin:/bin`,
      HOME: home,
      ...env,
    },
  });
  const calls = existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [];
  return { ...r, calls, home };
}

describe("tools/lab.sh", () => {
  test("up: generates a private passphrase once, selects or creates the dev stack, runs pulumi up", () => {
    const r = run([]);
    expect(r.status).toBe(0);
    const pfile = path.join(r.home, ".pulumi-identity-lab", "passphrase");
    expect(statSync(pfile).mode & 0o777).toBe(0o600);
    expect(readFileSync(pfile, "utf8").length).toBeGreaterThanOrEqual(40);
    expect(r.calls).toEqual([
      `stack select --create dev --non-interactive | backend= | pfile=${pfile} | p=`,
      `up --stack dev | backend= | pfile=${pfile} | p=`,
    ]);
  });

  test("destroy with flags, another stack and the user's own passphrase", () => {
    const r = run(["destroy", "--yes"], { PULUMI_STACK: "ci", PULUMI_CONFIG_PASSPHRASE: "mine" });
    expect(r.status).toBe(0);
    expect(r.calls).toEqual([
      "stack select --create ci --non-interactive | backend= | pfile= | p=mine",
      "destroy --stack ci --yes | backend= | pfile= | p=mine",
    ]);
    expect(existsSync(path.join(r.home, ".pulumi-identity-lab", "passphrase"))).toBe(false);
  });

  test("an unknown action is refused before pulumi is called", () => {
    const r = run(["deploy"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/usage: npm run lab/);
    expect(r.calls).toEqual([]);
  });
});
