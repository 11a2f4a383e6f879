/**
 * Finds PowerShell 7 and runs the probe (or any PowerShell) under it.
 *
 * The project pins PowerShell in .config/dotnet-tools.json and restores it itself, so a
 * fresh machine needs only the .NET SDK. The probe's tests never skip: without a way to
 * get pwsh they fail with a one-line message that says what to install.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import * as path from "node:path";
import { minifyPowerShell as minifyProbe, PROBE_SCRIPT_PATH, psQuote } from "../probe/command";
import { lastLine, runToEnd, type Finished } from "./process";

const ROOT = path.join(__dirname, "..");
/** The repository's dotnet local tool manifest pins PowerShell (`dotnet tool restore` reads it). */
export const TOOL_MANIFEST = path.join(ROOT, ".config", "dotnet-tools.json");
/** Where the launcher for the pinned pwsh is written (git-ignored). */
const LAUNCHER_DIR = path.join(ROOT, ".tools");

/** A missing toolchain: its message is one line that says what to install, and is printed without a stack. */
export class ToolchainError extends Error {
  override name = "ToolchainError";
}

/** What to install for this OS when `dotnet` itself is missing. */
export function dotnetInstallHint(platform: NodeJS.Platform = process.platform): string {
  const how: Record<string, string> = {
    linux:
      "Debian/Ubuntu: `sudo apt-get install dotnet-sdk-10.0`; other distributions: https://learn.microsoft.com/dotnet/core/install/linux",
    darwin: "macOS: `brew install --cask dotnet-sdk`",
    win32: "Windows: `winget install Microsoft.DotNet.SDK.10`",
  };
  return how[platform] ?? "see https://learn.microsoft.com/dotnet/core/install/";
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(exe: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? "").split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, exe);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** The PowerShell version the manifest pins. */
export function pinnedPowerShellVersion(manifest: string = TOOL_MANIFEST): string {
  const version = JSON.parse(readFileSync(manifest, "utf8"))?.tools?.powershell?.version;
  if (typeof version !== "string") throw new ToolchainError(`${manifest} pins no powershell tool version`);
  return version;
}

/** pwsh.dll of the pinned version in NuGet's global packages folder, where `dotnet tool restore` puts local tools. */
function restoredPwshDll(version: string, env: NodeJS.ProcessEnv, home: string): string | undefined {
  const tools = path.join(env.NUGET_PACKAGES || path.join(home, ".nuget", "packages"), "powershell", version, "tools");
  if (!existsSync(tools)) return undefined;
  for (const tfm of readdirSync(tools)) {
    const dll = path.join(tools, tfm, "any", process.platform === "win32" ? "win" : "unix", "pwsh.dll");
    if (existsSync(dll)) return dll;
  }
  return undefined;
}

function dotnetEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, DOTNET_CLI_TELEMETRY_OPTOUT: "1", DOTNET_NOLOGO: "1", DOTNET_SKIP_FIRST_TIME_EXPERIENCE: "1" };
}

/**
 * The pinned pwsh, restored from NuGet on first use. It runs as `dotnet pwsh.dll` through a
 * small launcher rather than the package's apphost, which needs DOTNET_ROOT wherever dotnet
 * is not installed in a default location; `dotnet tool run pwsh` works too, but costs about
 * a second more per start.
 */
function ensurePinnedPwsh(env: NodeJS.ProcessEnv, home: string): string {
  if (process.platform === "win32") {
    throw new ToolchainError("The offline kit runs on Linux and macOS; on Windows set PWSH to a PowerShell 7 pwsh.exe");
  }
  const version = pinnedPowerShellVersion();
  let dll = restoredPwshDll(version, env, home);
  if (!dll) {
    const dotnet = onPath("dotnet", env);
    if (!dotnet) {
      throw new ToolchainError(
        `PowerShell ${version} is installed from NuGet by the .NET SDK, and \`dotnet\` is not on PATH: install the .NET SDK 10 (${dotnetInstallHint()}), or set PWSH to a PowerShell 7 executable.`,
      );
    }
    const r = spawnSync(dotnet, ["tool", "restore", "--tool-manifest", TOOL_MANIFEST], {
      cwd: ROOT,
      env: dotnetEnv(env),
      encoding: "utf8",
      timeout: 300_000,
    });
    dll = restoredPwshDll(version, env, home);
    if (r.status !== 0 || !dll) {
      const why =
        `${r.stdout ?? ""}\n${r.stderr ?? ""}`
          .split("\n")
          .map((l) => l.trim())
          .filter(Boolean)
          .pop() ??
        r.error?.message ??
        `exit ${r.status}`;
      throw new ToolchainError(`\`dotnet tool restore\` did not install PowerShell ${version} (${why}); it needs the NuGet registry.`);
    }
  }
  const launcher = path.join(LAUNCHER_DIR, "pwsh");
  const body = `#!/bin/sh\n# Written by offline/pwsh.ts: the PowerShell that .config/dotnet-tools.json pins.\nexec dotnet '${dll.replace(/'/g, "'\\''")}' "$@"\n`;
  if (!existsSync(launcher) || readFileSync(launcher, "utf8") !== body) {
    mkdirSync(LAUNCHER_DIR, { recursive: true });
    const tmp = `${launcher}.${process.pid}`;
    writeFileSync(tmp, body, { mode: 0o755 });
    renameSync(tmp, launcher);
  }
  return launcher;
}

let cached: string | undefined;

/**
 * env PWSH if set (it must be executable), else the PowerShell that the repository's tool
 * manifest pins, restored with `dotnet tool restore` when it is missing. Throws a
 * ToolchainError whose one-line message says what to install. `env` and `home` are for
 * testing the lookup itself; the default lookup is cached.
 */
export function findPwsh(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const useCache = env === process.env;
  if (useCache && cached) return cached;
  let found: string;
  if (env.PWSH) {
    if (!isExecutable(env.PWSH))
      throw new ToolchainError(`PWSH=${env.PWSH} is not an executable file; unset it to use the pinned PowerShell`);
    found = env.PWSH;
  } else {
    found = ensurePinnedPwsh(env, home);
  }
  if (useCache) cached = found;
  return found;
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
    // Profile-guided tiering pays off in processes that run for long; a probe's pwsh starts ~15% cheaper without it.
    DOTNET_TieredPGO: "0",
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
  /** Which text "embedded" runs: the tutorial's inline script (default) or the whole one, grants mode included (userData). */
  variant?: "tutorial" | "grants";
}

const minifiedFiles = new Map<string, string>();
let writes = 0;

function embeddedScriptFile(variant: "tutorial" | "grants" = "tutorial"): string {
  let file = minifiedFiles.get(variant);
  if (!file) {
    file = path.join(mkdtempSync(path.join(tmpdir(), "probe-")), `probe.${variant}.min.ps1`);
    minifiedFiles.set(variant, file);
  }
  // Rewritten on every call: cheap, and a test run never sees a stale script. Through a rename, so that a
  // pwsh reading it for a concurrent run never sees it truncated (an empty script runs, prints nothing, exits 0).
  const tmp = `${file}.${process.pid}.${++writes}`;
  writeFileSync(tmp, minifyProbe(readFileSync(PROBE_SCRIPT_PATH, "utf8"), variant), "utf8");
  renameSync(tmp, file);
  return file;
}

/**
 * How a probe run is invoked: `args` for a fresh `pwsh` process, and `command`, the same
 * invocation as PowerShell text for a long-lived host (offline/pwshHost.ts). In
 * "embedded" mode `command` is exactly the `-Command` argument; in "file" mode it calls
 * the script file with every value as a string, as `-File` passes them.
 */
export function probeInvocation(
  params: Record<string, string | number>,
  mode: "embedded" | "file" = "embedded",
  variant: "tutorial" | "grants" = "tutorial",
): { args: string[]; command: string } {
  if (mode === "file") {
    const named = Object.entries(params).flatMap(([k, v]) => [`-${k}`, String(v)]);
    const quoted = Object.entries(params).map(([k, v]) => `-${k} ${psQuote(String(v))}`);
    return {
      args: ["-NoProfile", "-NonInteractive", "-File", PROBE_SCRIPT_PATH, ...named],
      command: [`& ${psQuote(PROBE_SCRIPT_PATH)}`, ...quoted].join(" "),
    };
  }
  const file = embeddedScriptFile(variant);
  const call = Object.entries(params)
    .map(([k, v]) => `-${k} ${typeof v === "number" ? String(v) : psQuote(v)}`)
    .join(" ");
  const command = `$t=[IO.File]::ReadAllText(${psQuote(file)});& ([scriptblock]::Create($t)) ${call}`;
  return { args: ["-NoProfile", "-NonInteractive", "-Command", command], command };
}

/** Parses a finished run's last stdout line as the report (null when it is not JSON). */
export function withReport(run: Finished): ProbeRun {
  const line = lastLine(run.stdout);
  let report: any = null;
  try {
    report = JSON.parse(line);
  } catch {
    report = null;
  }
  return { ...run, report, lastLine: line };
}

export async function runProbe(options: ProbeRunOptions): Promise<ProbeRun> {
  const { params, env = {}, mode = "embedded", killAfterMs = 60_000, variant = "tutorial" } = options;
  const { args } = probeInvocation(params, mode, variant);
  return withReport(await runToEnd(findPwsh(), args, { env: pwshEnv(env), killAfterMs }));
}
