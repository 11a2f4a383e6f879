import { spawn, SpawnOptions } from "node:child_process";

export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly wallMs: number;
}

/** Runs a process to its end, collecting stdout and stderr; killAfterMs bounds a hang. */
export function runToEnd(command: string, args: string[], options: SpawnOptions & { killAfterMs?: number } = {}): Promise<Finished> {
  const { killAfterMs, ...spawnOptions } = options;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...spawnOptions, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const killer = killAfterMs ? setTimeout(() => child.kill("SIGKILL"), killAfterMs) : undefined;
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (killer) clearTimeout(killer);
      resolve({ code, signal, stdout, stderr, wallMs: Date.now() - started });
    });
  });
}

/** The last non-empty line of a process's stdout. */
export function lastLine(stdout: string): string {
  const lines = stdout.split(/\r?\n/).filter((l) => l.trim() !== "");
  return lines.length ? lines[lines.length - 1] : "";
}
