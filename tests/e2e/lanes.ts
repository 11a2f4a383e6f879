/**
 * Runs named rehearsal scenarios in a child process, one after another (tests/e2e/rehearseInSequence.ts), so that
 * node and Pulumi's SDK start once per lane; the e2e suites run several lanes side by side.
 */
import * as path from "node:path";
import type { RehearsalResult } from "../../offline/rehearse";
import { findPwsh } from "../../offline/pwsh";
import { runToEnd } from "../../offline/process";

export const root = path.join(__dirname, "..", "..");

export interface Run {
  code: number | null;
  result: RehearsalResult;
}

/**
 * Each scenario is an argument list of `npm run rehearse`; the runs come back in order, with the CLI's exit code.
 * They run with `--warm-pwsh` (the lane's pwsh hosts serve all its rehearsals: about 1 CPU-s less per Windows
 * VM), but for the scenarios named in `ownProcess`, whose VMs get a pwsh process each, as on Azure.
 */
export async function rehearseInSequence<S extends string>(
  scenarios: Record<S, string[]>,
  names: S[],
  ownProcess: readonly S[] = [],
): Promise<Array<[S, Run]>> {
  const argLists = names.map((n) => (ownProcess.includes(n) ? scenarios[n] : [...scenarios[n], "--warm-pwsh"]));
  const run = await runToEnd(
    process.execPath,
    ["-r", "./tests/e2e/swcRegister.cjs", "tests/e2e/rehearseInSequence.ts", JSON.stringify(argLists)],
    { cwd: root, env: { ...process.env, PWSH: findPwsh() } },
  );
  const lines = run.stdout.split("\n").filter((l) => l.startsWith("{"));
  if (run.code !== 0 || lines.length !== names.length)
    throw new Error(`rehearsals ${names.join(", ")} ended with exit ${run.code}:\n${run.stdout}\n${run.stderr}`);
  return lines.map((l, i) => {
    const { code, result } = JSON.parse(l);
    return [names[i], { code, result }];
  });
}
