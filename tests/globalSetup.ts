/**
 * Runs once before the workers start: restores the pinned PowerShell (a fresh machine
 * has none) so that suites do not race to restore it, and hands its path to every
 * worker through PWSH; fetches dash, busybox and shellcheck for the sh suites. Without a way to get it, the run stops with one line.
 */
import { debianTool, curlPath } from "../offline/debianTools";
import { findPwsh, ToolchainError } from "../offline/pwsh";

export default function globalSetup(): void {
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
}
