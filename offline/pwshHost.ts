/**
 * PowerShell runs without a pwsh start-up each: long-lived pwsh processes (pwshHost.ps1) that run each
 * command in a fresh runspace of its own, with that run's environment variables set for it alone. A run
 * observes what a fresh `pwsh -NoProfile -NonInteractive -Command` process would: the same stdout and
 * stderr text, the same exit code, `exit` ends it, and killAfterMs kills it (the host goes with it and is
 * replaced). tests/pwsh/probeHost.test.ts compares both ways and proves the isolation.
 *
 * Starting pwsh costs 0.5-1 s of wall time and about 1.3 CPU-s per process, most of a fast probe run; a
 * hosted run costs a runspace (~20 ms) and already-compiled code. The rehearsal uses a pool with
 * `--warm-pwsh` (many VMs, or many rehearsals in one process); without it each VM's command gets a
 * process of its own, as on Azure.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as path from "node:path";
import { pwshEnv } from "./pwsh";
import type { Finished } from "./process";

const HOST_SCRIPT = path.join(__dirname, "pwshHost.ps1");

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

  /** `env`: for the host process itself, e.g. JIT settings (see PwshPool). */
  constructor(pwsh: string, env: Record<string, string> = {}) {
    this.child = spawn(pwsh, ["-NoProfile", "-NonInteractive", "-File", HOST_SCRIPT, "-Marker", this.marker], {
      env: pwshEnv(env),
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

  /** The host process's id (for measuring it). */
  get pid(): number | undefined {
    return this.child.pid;
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

  /** Ends the host (stdin closed; killed if it has not exited 5 s later) and resolves with its exit. */
  close(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.closed) {
      this.child.stdin.end();
      const killer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
      void this.exited.then(() => clearTimeout(killer));
    }
    return this.exited;
  }
}

/** Up to `size` hosts, started on demand; a run waits for a free one. */
export class PwshPool {
  private readonly hosts: PwshHost[] = [];
  private readonly claimed = new Set<PwshHost>();
  private readonly waiting: ((host: PwshHost) => void)[] = [];

  /**
   * `hostEnv` goes to each host process. `{ DOTNET_TieredCompilation: "0" }` suits a pool that serves many busy
   * runs: a host starts slower (3.0 against 1.5 CPU-s) but compiles fully at once, where tiering pays again on
   * each of the first runs (a probe waiting 3 s on 403s: 1.6, 1.8, 0.4, 0.2 CPU-s on a new host with tiering;
   * 0.9, 0.25, 0.1, 0.1 without; `npm run bench:pwsh-host`). For a few quiet runs (a rehearsal's) tiering is cheaper.
   */
  constructor(
    private readonly pwsh: string,
    readonly size: number,
    private readonly hostEnv: Record<string, string> = {},
  ) {}

  private acquire(): Promise<PwshHost> {
    for (let i = this.hosts.length - 1; i >= 0; i--) if (!this.hosts[i].alive) this.hosts.splice(i, 1);
    const idle = this.hosts.find((h) => !h.busy && !this.claimed.has(h));
    if (idle) {
      this.claimed.add(idle);
      return Promise.resolve(idle);
    }
    if (this.hosts.length < this.size) {
      const host = new PwshHost(this.pwsh, this.hostEnv);
      this.hosts.push(host);
      this.claimed.add(host);
      return Promise.resolve(host);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(host: PwshHost): void {
    this.claimed.delete(host);
    let next = host;
    if (!host.alive) {
      // acquire() may have dropped it already; splice(-1, 1) would drop the last host instead, left running.
      const i = this.hosts.indexOf(host);
      if (i >= 0) this.hosts.splice(i, 1);
      if (!this.waiting.length) return;
      next = new PwshHost(this.pwsh, this.hostEnv);
      this.hosts.push(next);
    }
    const w = this.waiting.shift();
    if (w) {
      this.claimed.add(next);
      w(next);
    }
  }

  /** Holds one host for a body of runs (e.g. to show that consecutive runs on it share nothing). */
  async withHost<T>(body: (host: PwshHost) => Promise<T>): Promise<T> {
    const host = await this.acquire();
    try {
      return await body(host);
    } finally {
      this.release(host);
    }
  }

  /** Runs PowerShell text on a host, as a fresh `pwsh -Command` process would run it. */
  run(command: string, env: Record<string, string> = {}, killAfterMs = 60_000): Promise<Finished> {
    return this.withHost((host) => host.run(command, env, killAfterMs));
  }

  /** Ends every host. */
  async close(): Promise<void> {
    const all = this.hosts.splice(0);
    await Promise.all(all.map((h) => h.close()));
  }
}

/**
 * The PowerShell text that `pwsh <args>` would run, for a host: `-Command <text>` (the rest of the line) or
 * `-EncodedCommand <base64 of UTF-16LE>`, after any of -NoProfile, -NonInteractive, -NoLogo and
 * -ExecutionPolicy <policy> (which has no effect on Linux). Anything else is refused: a host cannot
 * stand in for it.
 */
export function hostCommandFor(args: readonly string[]): string {
  for (let i = 0; i < args.length; i++) {
    const a = args[i].toLowerCase();
    if (a === "-noprofile" || a === "-noninteractive" || a === "-nologo") continue;
    if (a === "-executionpolicy" && i + 1 < args.length) {
      i++;
      continue;
    }
    if (a === "-encodedcommand" && i === args.length - 2) return Buffer.from(args[i + 1], "base64").toString("utf16le");
    if (a === "-command" && i < args.length - 1) return args.slice(i + 1).join(" ");
    break;
  }
  throw new Error(`a pwsh host cannot run \`pwsh ${args.join(" ").slice(0, 80)}\`: only -Command or -EncodedCommand`);
}
