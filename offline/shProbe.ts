/**
 * Runs scripts/identity-probe.sh under a given POSIX shell (dash, busybox sh) against the emulator,
 * the way offline/pwsh.ts runs the PowerShell probe: same parameter names, same seams, same ProbeRun.
 * Under busybox every utility the script calls (awk, sed, tr, head, base64, od, sleep, ...) is
 * busybox's own, through a directory of applet links put first on PATH; only curl is the machine's.
 */
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { debianTool, curlPath } from "./debianTools";
import { runToEnd } from "./process";
import { withReport, type ProbeRun } from "./pwsh";

export const SH_PROBE_PATH = path.join(__dirname, "..", "scripts", "identity-probe.sh");
export type ProbeShell = "dash" | "busybox";

const APPLETS = ["awk", "sed", "tr", "head", "base64", "od", "sleep", "cat", "wc", "date", "mktemp", "rm", "sh"];

function busyboxPath(): string {
  const bb = debianTool("busybox");
  const dir = path.join(path.dirname(bb), "..", "applets");
  mkdirSync(dir, { recursive: true });
  for (const a of APPLETS) if (!existsSync(path.join(dir, a))) symlinkSync(bb, path.join(dir, a));
  const curlDir = path.join(dir, "..", "curl");
  mkdirSync(curlDir, { recursive: true });
  if (!existsSync(path.join(curlDir, "curl"))) symlinkSync(curlPath(), path.join(curlDir, "curl"));
  // Only busybox's applets and curl: a GNU tool the script relied on would fail the run.
  return `${dir}:${curlDir}`;
}

export interface ShProbeOptions {
  shell: ProbeShell;
  params: Record<string, string | number>;
  env?: Record<string, string>;
  killAfterMs?: number;
  /** Another script text to run instead of the file (e.g. the one the extension would write); params then usually {}. */
  script?: string;
}

export async function runShProbe(options: ShProbeOptions): Promise<ProbeRun> {
  const { shell, params, env = {}, killAfterMs = 60_000 } = options;
  let file = SH_PROBE_PATH;
  if (options.script !== undefined) {
    file = path.join(mkdtempSync(path.join(tmpdir(), "shprobe-")), "script.sh");
    writeFileSync(file, options.script);
  }
  const named = Object.entries(params).flatMap(([k, v]) => [`-${k}`, String(v)]);
  let command: string;
  let args: string[];
  let PATH = process.env.PATH ?? "/usr/bin:/bin";
  if (shell === "busybox") {
    command = debianTool("busybox");
    args = ["sh", file, ...named];
    PATH = busyboxPath();
  } else {
    curlPath();
    command = debianTool("dash");
    args = [file, ...named];
  }
  // A clean environment, as the extension gives: nothing of the test runner's leaks in (proxies above all).
  const run = await runToEnd(command, args, {
    env: { PATH, HOME: process.env.HOME ?? "/root", TMPDIR: process.env.TMPDIR ?? "/tmp", ...env },
    killAfterMs,
  });
  return withReport(run);
}
