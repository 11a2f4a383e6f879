/**
 * The POSIX-shell test tools, from Debian's own packages and without root-only steps:
 * `apt-get download <pkg>` (works as any user) and `dpkg-deb -x` into `.tools/debian/<pkg>/`
 * (git-ignored). dash and curl are used from the machine when present (Debian's `dash` is
 * essential, curl is on every CI machine here); busybox and shellcheck are fetched this way.
 * A missing tool is a loud failure with a one-line hint, never a skipped test.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import * as path from "node:path";
import { ToolchainError } from "./pwsh";

const ROOT = path.join(__dirname, "..");
const TOOLS = path.join(ROOT, ".tools", "debian");

/** Where each tool lives inside its Debian package. */
const PACKAGES = {
  dash: { pkg: "dash", bin: "bin/dash" },
  busybox: { pkg: "busybox", bin: "bin/busybox" },
  shellcheck: { pkg: "shellcheck", bin: "usr/bin/shellcheck" },
} as const;
export type DebianTool = keyof typeof PACKAGES;

function run(cmd: string, args: string[], cwd?: string): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8" });
  return { ok: r.status === 0, out: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}` };
}

function onPath(name: string): string | undefined {
  const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  const p = r.stdout.trim();
  return r.status === 0 && p ? p : undefined;
}

/**
 * `apt-get download` needs the package lists. On a fresh machine they may be empty: as root (CI here runs
 * as root, non-interactively) `apt-get update` fills them once; otherwise the hint says what to run.
 */
function download(pkg: string, dir: string): void {
  let r = run("apt-get", ["download", "-q", pkg], dir);
  if (!r.ok && /Unable to locate|no candidate|has no installation candidate/i.test(r.out)) {
    if (process.getuid?.() !== 0) {
      throw new ToolchainError(`the apt package lists do not know "${pkg}": run \`sudo apt-get update\` once, then rerun the tests`);
    }
    const u = run("apt-get", ["update", "-qq"]);
    if (!u.ok) throw new ToolchainError(`apt-get update failed, so "${pkg}" cannot be fetched: ${u.out.trim().split("\n").pop()}`);
    r = run("apt-get", ["download", "-q", pkg], dir);
  }
  if (!r.ok) {
    const why = r.out.includes("ENOENT") ? "apt-get is not on PATH (a Debian or Ubuntu machine is needed)" : r.out.trim().split("\n").pop();
    throw new ToolchainError(`cannot fetch the Debian package "${pkg}" for the sh probe tests: ${why}`);
  }
}

/** The path of a working tool, fetched and unpacked on first use. */
export function debianTool(tool: DebianTool): string {
  const { pkg, bin } = PACKAGES[tool];
  if (tool === "dash") {
    const local = onPath("dash");
    if (local) return local;
  }
  const target = path.join(TOOLS, pkg, bin);
  if (!existsSync(target)) {
    mkdirSync(TOOLS, { recursive: true });
    const tmp = mkdtempSync(path.join(TOOLS, `.${pkg}-`));
    try {
      download(pkg, tmp);
      const deb = readdirSync(tmp).find((f) => f.endsWith(".deb"));
      if (!deb) throw new ToolchainError(`apt-get download ${pkg} left no .deb file`);
      const x = run("dpkg-deb", ["-x", path.join(tmp, deb), path.join(TOOLS, pkg)]);
      if (!x.ok) throw new ToolchainError(`dpkg-deb -x ${deb} failed: ${x.out.trim()}`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const probe = run(target, tool === "shellcheck" ? ["--version"] : tool === "busybox" ? ["sh", "-c", "true"] : ["-c", "true"]);
  if (!probe.ok) throw new ToolchainError(`${target} does not run here: ${probe.out.trim().split("\n").pop()}`);
  return target;
}

/** curl from the machine: the probe's only network tool. */
export function curlPath(): string {
  const p = onPath("curl");
  if (!p) throw new ToolchainError("curl is not on PATH: install it (`apt-get install curl`) to run the sh probe tests");
  return p;
}
