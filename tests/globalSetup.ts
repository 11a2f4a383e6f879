/**
 * Runs once before the workers start: restores the pinned PowerShell (a fresh machine
 * has none) so that suites do not race to restore it, and hands its path to every
 * worker through PWSH; starts the pwsh host broker that every pwsh suite shares
 * (tests/pwsh/hostBroker.ts); fetches dash, busybox and shellcheck for the sh suites.
 * Without a way to get a tool, the run stops with one line.
 */
import { debianTool, curlPath } from "../offline/debianTools";
import { findPwsh, ToolchainError } from "../offline/pwsh";
import { BROKER_ENV, startBroker, type Broker } from "./pwsh/hostBroker";
import { HOST_ENV } from "./pwsh/probeHost";

/** Hosts for the whole run: the two workers' probe runs (two each at most) mostly overlap a wait. */
const BROKER_HOSTS = 3;

export default async function globalSetup(): Promise<void> {
  try {
    process.env.PWSH = findPwsh();
    // The sh probe's shells and linter, fetched once from Debian's packages (no root needed but for apt-get update).
    for (const tool of ["dash", "busybox", "shellcheck"] as const) debianTool(tool);
    curlPath();
  } catch (e) {
    if (!(e instanceof ToolchainError)) throw e;
    process.stderr.write(`\nidentity-lab: ${e.message}\n`);
    process.exit(1);
  }
  const broker = await startBroker(process.env.PWSH, BROKER_HOSTS, HOST_ENV);
  process.env[BROKER_ENV] = broker.socketPath;
  (globalThis as { identityLabBroker?: Broker }).identityLabBroker = broker;
}
