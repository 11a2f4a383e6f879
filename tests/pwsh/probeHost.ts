/**
 * The pwsh suites' pool of long-lived pwsh hosts (offline/pwshHost.ts): probe runs without a pwsh
 * start-up each. probeHost.test.ts proves a hosted run is what a fresh process would do.
 */
import { findPwsh, probeInvocation, withReport, type ProbeRun, type ProbeRunOptions } from "../../offline/pwsh";
import { PwshPool, type PwshHost } from "../../offline/pwshHost";
import type { Finished } from "../../offline/process";

/**
 * Hosts per jest worker, and so probe runs at a time (probeLab.ts has as many emulator slots): one per CI
 * core. Four were tried: on a loaded machine the suites got no faster, and cut-short requests made
 * deadline cases flaky.
 */
export const POOL_SIZE = 2;
let pool: PwshPool | undefined;
// Each host serves dozens of runs, most of them busy (retries, deadlines): fully compiled code from the start.
const thePool = () => (pool ??= new PwshPool(findPwsh(), POOL_SIZE, { DOTNET_TieredCompilation: "0" }));

/** Holds one pooled host for a body of runs (e.g. to show that consecutive runs on it share nothing). */
export function withHost<T>(body: (host: PwshHost) => Promise<T>): Promise<T> {
  return thePool().withHost(body);
}

/** Runs any PowerShell text on a pooled host, as a fresh `pwsh -Command` process would run it. */
export function runHosted(command: string, env: Record<string, string> = {}, killAfterMs = 60_000): Promise<Finished> {
  return thePool().run(command, env, killAfterMs);
}

/** offline/pwsh.ts runProbe's twin: the same invocation and result, on a pooled host. */
export async function runProbeHosted(options: ProbeRunOptions): Promise<ProbeRun> {
  const { params, env = {}, mode = "embedded", killAfterMs = 60_000, variant = "tutorial" } = options;
  return withReport(await runHosted(probeInvocation(params, mode, variant).command, env, killAfterMs));
}

/** Ends every pooled host (registered with afterAll in any test file that imports this module). */
export async function closeHosts(): Promise<void> {
  await pool?.close();
}

if (typeof afterAll === "function") afterAll(closeHosts);
