/**
 * Runs in a child process for rehearsal.test.ts: several rehearsals one after another,
 * so that node and Pulumi's SDK start once for all of them rather than once each.
 *
 *   node -r ./tests/e2e/swcRegister.cjs tests/e2e/rehearseInSequence.ts '[["--mutate","wrong-scope"],[]]'
 *
 * Each element is an argument list of `npm run rehearse` (without --json). Prints one
 * JSON line per rehearsal, in order: { args, code, result }, with the exit code the CLI
 * would have given.
 */
import { exitCode, optionsFromArgs } from "../../offline/cli";
import { findPwsh } from "../../offline/pwsh";
import { closeWarmPwsh, rehearse } from "../../offline/rehearse";

async function main(): Promise<void> {
  const scenarios = JSON.parse(process.argv[2] ?? "[]") as string[][];
  const pwsh = findPwsh();
  for (const args of scenarios) {
    const { options } = optionsFromArgs(args);
    const result = await rehearse({ ...options, pwsh });
    process.stdout.write(`${JSON.stringify({ args, code: exitCode(result), result })}\n`);
  }
  await closeWarmPwsh();
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exit(3);
  },
);
