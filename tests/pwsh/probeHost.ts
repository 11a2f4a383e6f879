/**
 * The pwsh suites' long-lived pwsh hosts (offline/pwshHost.ts): probe runs without a pwsh start-up each.
 * They are the broker's (hostBroker.ts, started by jest's globalSetup: one pool for every test file).
 * probeHost.test.ts proves a hosted run is what a fresh process would do.
 */
import { probeInvocation, withReport, type ProbeRun, type ProbeRunOptions } from "../../offline/pwsh";
import type { Finished } from "../../offline/process";
import { BROKER_ENV, RemoteHost } from "./hostBroker";

/**
 * Probe runs at a time per jest worker (probeLab.ts has as many emulator slots): one per CI core. Four were
 * tried: on a loaded machine the suites got no faster, and cut-short requests made deadline cases flaky.
 */
export const POOL_SIZE = 2;
/**
 * Each host serves dozens of runs, most of them busy (retries, deadlines): fully compiled code from the start.
 * globalSetup gives the broker's pool the same settings.
 */
export const HOST_ENV = { DOTNET_TieredCompilation: "0" };

/** What a body holding one host sees: a local PwshHost or a broker session. */
export interface Host {
  run(command: string, env?: Record<string, string>, killAfterMs?: number): Promise<Finished>;
  readonly alive: boolean;
}

/** Holds one host for a body of runs (e.g. to show that consecutive runs on it share nothing). */
export async function withHost<T>(body: (host: Host) => Promise<T>): Promise<T> {
  const broker = process.env[BROKER_ENV];
  if (!broker) throw new Error(`${BROKER_ENV} is not set: run the pwsh suites through jest, whose globalSetup starts the broker`);
  const session = new RemoteHost(broker);
  try {
    return await body(session);
  } finally {
    session.close();
  }
}

/** Runs any PowerShell text on a host, as a fresh `pwsh -Command` process would run it. */
export function runHosted(command: string, env: Record<string, string> = {}, killAfterMs = 60_000): Promise<Finished> {
  return withHost((host) => host.run(command, env, killAfterMs));
}

/** offline/pwsh.ts runProbe's twin: the same invocation and result, on a host. */
export async function runProbeHosted(options: ProbeRunOptions): Promise<ProbeRun> {
  const { params, env = {}, mode = "embedded", killAfterMs = 60_000, variant = "tutorial" } = options;
  return withReport(await runHosted(probeInvocation(params, mode, variant).command, env, killAfterMs));
}
