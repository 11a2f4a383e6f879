/**
 * Runs once before the workers start: restores the pinned PowerShell (a fresh machine
 * has none) so that suites do not race to restore it, and hands its path to every
 * worker through PWSH. Without a way to get it, the run stops with one line.
 */
import { findPwsh, ToolchainError } from "../offline/pwsh";

export default function globalSetup(): void {
  try {
    process.env.PWSH = findPwsh();
  } catch (e) {
    if (!(e instanceof ToolchainError)) throw e;
    process.stderr.write(`\nidentity-lab: ${e.message}\n`);
    process.exit(1);
  }
}
