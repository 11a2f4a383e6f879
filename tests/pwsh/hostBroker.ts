/**
 * One pool of pwsh hosts for the whole jest run, instead of one per test file: globalSetup starts this broker
 * in jest's own process, and each worker's probeHost.ts reaches it over a Unix socket (its path in
 * IDENTITYLAB_TEST_PWSH_BROKER). A connection is a session on one host, held until the connection closes:
 * newline-delimited JSON, a request {command, env, killAfterMs} answered by the run's Finished and whether the
 * host is still alive. A host costs ~3 CPU-s to start with full JIT; each pwsh test file had started two.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { createInterface } from "node:readline";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { Finished } from "../../offline/process";
import { PwshPool, type PwshHost } from "../../offline/pwshHost";

export const BROKER_ENV = "IDENTITYLAB_TEST_PWSH_BROKER";

interface Request {
  command: string;
  env: Record<string, string>;
  killAfterMs: number;
}
type Reply = { run: Finished; alive: boolean } | { error: string; alive: boolean };

/** Calls onLine for each newline-terminated line the socket receives. */
function lines(socket: Socket, onLine: (line: string) => void): void {
  createInterface({ input: socket, crlfDelay: Infinity }).on("line", onLine);
}

export interface Broker {
  readonly socketPath: string;
  close(): Promise<void>;
}

/** Starts the broker; its hosts start on demand, so a run without pwsh suites starts none. */
export async function startBroker(pwsh: string, size: number, hostEnv: Record<string, string>): Promise<Broker> {
  const pool = new PwshPool(pwsh, size, hostEnv);
  const dir = mkdtempSync(path.join(tmpdir(), "pwsh-broker-"));
  const socketPath = path.join(dir, "broker.sock");
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    let hostReady: Promise<PwshHost> | undefined;
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.on("error", () => undefined);
    let queue = Promise.resolve();
    lines(socket, (line) => {
      queue = queue.then(async () => {
        // The session's host, held until the connection closes (then the pool gives it to the next session).
        hostReady ??= new Promise<PwshHost>((resolve) => {
          void pool.withHost((host) => {
            resolve(host);
            return closed;
          });
        });
        const host = await hostReady;
        const req = JSON.parse(line) as Request;
        let reply: Reply;
        try {
          reply = { run: await host.run(req.command, req.env, req.killAfterMs), alive: host.alive };
        } catch (e) {
          reply = { error: (e as Error).message, alive: host.alive };
        }
        if (!socket.destroyed) socket.write(`${JSON.stringify(reply)}\n`);
      });
    });
    void closed.then(() => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(socketPath, resolve));
  return {
    socketPath,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A session on one of the broker's hosts: the same run() as PwshHost, and its liveness after the last run. */
export class RemoteHost {
  private readonly socket: Socket;
  private readonly replies: ((reply: Reply) => void)[] = [];
  private lastAlive = true;
  private readonly ready: Promise<void>;

  constructor(socketPath: string) {
    this.socket = createConnection(socketPath);
    this.ready = new Promise((resolve, reject) => this.socket.once("connect", resolve).once("error", reject));
    lines(this.socket, (line) => this.replies.shift()?.(JSON.parse(line) as Reply));
  }

  get alive(): boolean {
    return this.lastAlive;
  }

  async run(command: string, env: Record<string, string> = {}, killAfterMs = 60_000): Promise<Finished> {
    await this.ready;
    const reply = await new Promise<Reply>((resolve) => {
      this.replies.push(resolve);
      this.socket.write(`${JSON.stringify({ command, env, killAfterMs } satisfies Request)}\n`);
    });
    this.lastAlive = reply.alive;
    if ("error" in reply) throw new Error(reply.error);
    return reply.run;
  }

  close(): void {
    this.socket.end();
  }
}
