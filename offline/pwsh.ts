/**
 * Finds PowerShell 7 and runs the probe (or any PowerShell) under it.
 *
 * The probe's tests must never skip: a CI machine without pwsh fails them with a
 * message that says how to install it.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import * as path from "node:path";
import { minifyPowerShell as minifyProbe, PROBE_SCRIPT_PATH, psQuote } from "../probe/command";
import { lastLine, runToEnd } from "./process";

const INSTALL_HINT =
  "install it with `dotnet tool install --global PowerShell --version 7.6.9` and put ~/.dotnet/tools on PATH, or set PWSH";

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

let cached: string | undefined;

/**
 * env PWSH, else `pwsh` on PATH, else ~/.dotnet/tools/pwsh; throws when none is there.
 * `env` and `home` are for testing the lookup itself; the default lookup is cached.
 */
export function findPwsh(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const useCache = env === process.env;
  if (useCache && cached) return cached;
  const found = lookUpPwsh(env, home);
  if (useCache) cached = found;
  return found;
}

function lookUpPwsh(env: NodeJS.ProcessEnv, home: string): string {
  if (env.PWSH) {
    if (!isExecutable(env.PWSH)) throw new Error(`PWSH=${env.PWSH} is not an executable file; ${INSTALL_HINT}`);
    return env.PWSH;
  }
  const exe = process.platform === "win32" ? "pwsh.exe" : "pwsh";
  for (const dir of (env.PATH ?? "").split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, exe);
    if (isExecutable(candidate)) return candidate;
  }
  const dotnetTool = path.join(home, ".dotnet", "tools", exe);
  if (isExecutable(dotnetTool)) return dotnetTool;
  throw new Error(`PowerShell 7 (pwsh) was not found; ${INSTALL_HINT}`);
}

/** The child's environment: no proxy (the emulator is on 127.0.0.1), no telemetry or update checks. */
export function pwshEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^(https?|all|no)_proxy$/i.test(key) || key.startsWith("IDENTITYLAB_")) delete env[key];
  }
  return {
    ...env,
    POWERSHELL_TELEMETRY_OPTOUT: "1",
    POWERSHELL_UPDATECHECK: "Off",
    DOTNET_CLI_TELEMETRY_OPTOUT: "1",
    DOTNET_NOLOGO: "1",
    ...extra,
  };
}

/** Runs a PowerShell script file synchronously (for short analyses, not for the probe). */
export function runPwshFile(file: string, args: string[] = []): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(findPwsh(), ["-NoProfile", "-NonInteractive", "-File", file, ...args], {
    encoding: "utf8",
    env: pwshEnv(),
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Exactly what the program embeds: the probe tests must exercise the same text. */
export { minifyProbe, psQuote };

export interface ProbeRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The parsed last line of stdout, or null when it is not JSON. */
  report: any;
  lastLine: string;
  wallMs: number;
}

export interface ProbeRunOptions {
  /** Probe parameters, by name without the dash. */
  params: Record<string, string | number>;
  env?: Record<string, string>;
  /**
   * "embedded" runs the minified text as a script block, the way the VM does
   * (`& ([scriptblock]::Create($t)) -Name value ...`); "file" runs the file itself.
   */
  mode?: "embedded" | "file";
  /** Hard kill, so a hanging probe fails its test instead of the whole run. */
  killAfterMs?: number;
}

let minifiedFile: string | undefined;

function embeddedScriptFile(): string {
  if (!minifiedFile) {
    const dir = mkdtempSync(path.join(tmpdir(), "probe-"));
    minifiedFile = path.join(dir, "probe.min.ps1");
  }
  // Rewritten on every call: cheap, and a test run never sees a stale script.
  writeFileSync(minifiedFile, minifyProbe(readFileSync(PROBE_SCRIPT_PATH, "utf8")), "utf8");
  return minifiedFile;
}

export async function runProbe(options: ProbeRunOptions): Promise<ProbeRun> {
  const { params, env = {}, mode = "embedded", killAfterMs = 60_000 } = options;
  const named = Object.entries(params).flatMap(([k, v]) => [`-${k}`, String(v)]);
  let args: string[];
  if (mode === "file") {
    args = ["-NoProfile", "-NonInteractive", "-File", PROBE_SCRIPT_PATH, ...named];
  } else {
    const file = embeddedScriptFile();
    const call = Object.entries(params)
      .map(([k, v]) => `-${k} ${typeof v === "number" ? String(v) : psQuote(v)}`)
      .join(" ");
    args = [
      "-NoProfile",
      "-NonInteractive",
      "-Command",
      `$t=[IO.File]::ReadAllText(${psQuote(file)});& ([scriptblock]::Create($t)) ${call}`,
    ];
  }
  const run = await runToEnd(findPwsh(), args, { env: pwshEnv(env), killAfterMs });
  const line = lastLine(run.stdout);
  let report: any = null;
  try {
    report = JSON.parse(line);
  } catch {
    report = null;
  }
  return { ...run, report, lastLine: line };
}
