/**
 * Probe runs without a pwsh start-up each: a small pool of long-lived pwsh processes
 * (probeHost.ps1) runs each command in a fresh runspace of its own, with that run's
 * environment variables set for it alone. A run observes what a fresh
 * `pwsh -NoProfile -NonInteractive -Command` (or `-File`) process would: the same stdout and
 * stderr text, the same exit code, `exit` ends it, and killAfterMs kills it (the host goes
 * with it and is replaced). probeHost.test.ts compares both ways and proves the isolation.
 *
 * Starting pwsh costs 0.5-1 s of wall time and about 1 CPU-s per process, most of a fast
 * probe run; a hosted run costs a runspace (~20 ms) and already-compiled code.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as path from "node:path";
import { findPwsh, probeInvocation, pwshEnv, withReport, type ProbeRun, type ProbeRunOptions } from "../../offline/pwsh";
import type { Finished } from "../../offline/process";

const HOST_SCRIPT = path.join(__dirname, "probeHost.ps1");

interface Pending {
  resolve: (run: Finished) => void;
  started: number;
  killer?: NodeJS.Timeout;
}

/** One long-lived pwsh; runs one command at a time. */
export class PwshHost {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly marker = `<<<identitylab-host-end-${randomUUID()}>>>`;
  private out = "";
  private err = "";
  private pending: Pending | null = null;
  private closed = false;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor() {
    this.child = spawn(findPwsh(), ["-NoProfile", "-NonInteractive", "-File", HOST_SCRIPT, "-Marker", this.marker], {
      env: pwshEnv(),
      stdio: "pipe",
    });
    this.child.stdout.setEncoding("utf8").on("data", (d: string) => {
      this.out += d;
      this.settle();
    });
    this.child.stderr.setEncoding("utf8").on("data", (d: string) => {
      this.err += d;
      this.settle();
    });
    this.exited = new Promise((resolve) =>
      this.child.on("close", (code, signal) => {
        this.closed = true;
        // A run that ended the process (exit, a crash, killAfterMs) ends as that process's run would.
        const p = this.pending;
        if (p) {
          this.pending = null;
          if (p.killer) clearTimeout(p.killer);
          p.resolve({ code, signal, stdout: this.out, stderr: this.err, wallMs: Date.now() - p.started });
        }
        resolve({ code, signal });
      }),
    );
    this.child.on("error", () => undefined);
  }

  /** False once the process has ended: the pool replaces it. */
  get alive(): boolean {
    return !this.closed && this.child.exitCode === null && this.child.signalCode === null;
  }

  get busy(): boolean {
    return this.pending !== null;
  }

  private settle(): void {
    const p = this.pending;
    if (!p) return;
    const outEnd = new RegExp(`\\n${this.marker} (-?\\d+)\\n`).exec(this.out);
    const errEnd = this.err.indexOf(`\n${this.marker}\n`);
    if (!outEnd || errEnd < 0) return;
    const stdout = this.out.slice(0, outEnd.index);
    const stderr = this.err.slice(0, errEnd);
    this.out = this.out.slice(outEnd.index + outEnd[0].length);
    this.err = this.err.slice(errEnd + this.marker.length + 2);
    this.pending = null;
    if (p.killer) clearTimeout(p.killer);
    p.resolve({ code: Number(outEnd[1]), signal: null, stdout, stderr, wallMs: Date.now() - p.started });
  }

  /** Runs PowerShell text as `pwsh -Command <command>` would, with `env` added to the environment. */
  run(command: string, env: Record<string, string> = {}, killAfterMs = 60_000): Promise<Finished> {
    if (this.pending) throw new Error("PwshHost runs one command at a time");
    if (!this.alive) throw new Error("PwshHost has exited");
    return new Promise((resolve) => {
      const started = Date.now();
      this.pending = { resolve, started };
      if (killAfterMs) this.pending.killer = setTimeout(() => this.child.kill("SIGKILL"), killAfterMs);
      this.child.stdin.write(`${JSON.stringify({ command, env })}\n`);
    });
  }

  /** Ends the host (stdin closed) and resolves with its exit. */
  close(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.alive) this.child.stdin.end();
    return this.exited;
  }
}

/**
 * Hosts per jest worker, and so probe runs at a time (probeLab.ts has as many emulator slots): one per CI
 * core. Four were tried: on a loaded machine the suites got no faster, and cut-short requests made
 * deadline cases flaky.
 */
export const POOL_SIZE = 2;
const hosts: PwshHost[] = [];
const waiting: ((host: PwshHost) => void)[] = [];

function acquire(): Promise<PwshHost> {
  for (let i = hosts.length - 1; i >= 0; i--) if (!hosts[i].alive) hosts.splice(i, 1);
  const idle = hosts.find((h) => !h.busy && !claimed.has(h));
  if (idle) {
    claimed.add(idle);
    return Promise.resolve(idle);
  }
  if (hosts.length < POOL_SIZE) {
    const host = new PwshHost();
    hosts.push(host);
    claimed.add(host);
    return Promise.resolve(host);
  }
  return new Promise((resolve) => waiting.push(resolve));
}

const claimed = new Set<PwshHost>();

function release(host: PwshHost): void {
  claimed.delete(host);
  let next = host;
  if (!host.alive) {
    hosts.splice(hosts.indexOf(host), 1);
    if (!waiting.length) return;
    next = new PwshHost();
    hosts.push(next);
  }
  const w = waiting.shift();
  if (w) {
    claimed.add(next);
    w(next);
  }
}

/** Holds one pooled host for a body of runs (e.g. to show that consecutive runs on it share nothing). */
export async function withHost<T>(body: (host: PwshHost) => Promise<T>): Promise<T> {
  const host = await acquire();
  try {
    return await body(host);
  } finally {
    release(host);
  }
}

/** Runs any PowerShell text on a pooled host, as a fresh `pwsh -Command` process would run it. */
export function runHosted(command: string, env: Record<string, string> = {}, killAfterMs = 60_000): Promise<Finished> {
  return withHost((host) => host.run(command, env, killAfterMs));
}

/** offline/pwsh.ts runProbe's twin: the same invocation and result, on a pooled host. */
export async function runProbeHosted(options: ProbeRunOptions): Promise<ProbeRun> {
  const { params, env = {}, mode = "embedded", killAfterMs = 60_000 } = options;
  return withReport(await runHosted(probeInvocation(params, mode).command, env, killAfterMs));
}

/** Ends every pooled host (registered with afterAll in any test file that imports this module). */
export async function closeHosts(): Promise<void> {
  const all = hosts.splice(0);
  await Promise.all(all.map((h) => h.close()));
}

if (typeof afterAll === "function") afterAll(closeHosts);
