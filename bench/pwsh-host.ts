/**
 * What a long-lived pwsh host (offline/pwshHost.ts) costs per probe run, with .NET's tiered JIT (the default)
 * and with full JIT from the start (DOTNET_TieredCompilation=0, which the pwsh test suites' pool uses).
 *
 *   npm run bench:pwsh-host [runs=6]
 *
 * For each setting, a new host runs the embedded probe `runs` times against the emulator, in two cases: a
 * role that never arrives (403s for a 3 s deadline at the suites' fast backoff: a busy run) and a role that
 * is there (one token, two ARM reads). Prints the host's CPU-seconds (/proc/<pid>/stat) for its start and
 * for each run, and the total.
 */
import { readFileSync } from "node:fs";
import { AzureEmulator, READER_ROLE_ID } from "../offline/azure-emulator";
import { findPwsh, probeInvocation } from "../offline/pwsh";
import { PwshHost } from "../offline/pwshHost";

const RG = "rg-identity-lab";
const runs = Number(process.argv[2] ?? 6);

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function measure(emu: AzureEmulator, env: Record<string, string>, withRole: boolean): Promise<number[]> {
  for (const a of emu.listRoleAssignments()) emu.removeRoleAssignment(a.id);
  if (withRole)
    emu.assignRole({
      scope: `/subscriptions/${emu.subscriptionId}/resourceGroups/${RG}`,
      roleDefinitionId: READER_ROLE_ID,
      principalId: emu.vmIdentity!.principalId,
    });
  const host = new PwshHost(findPwsh(), env);
  const pid = host.pid!;
  await host.run("$null");
  const costs = [cpuSeconds(pid)];
  const { command } = probeInvocation({
    SubscriptionId: emu.subscriptionId,
    ResourceGroupName: RG,
    DeadlineSeconds: 3,
    RetryBaseSeconds: 0.05,
    RetryCapSeconds: 0.2,
    RequestTimeoutSeconds: 5,
  });
  for (let i = 0; i < runs; i++) {
    const before = cpuSeconds(pid);
    const r = await host.run(command, { IDENTITYLAB_IMDS_ENDPOINT: emu.imdsUrl, IDENTITYLAB_ARM_URL: emu.armUrl });
    if (!r.stdout.includes('"schema":"identitylab.probe/v1"')) throw new Error(`no report: ${r.stdout}\n${r.stderr}`);
    costs.push(cpuSeconds(pid) - before);
  }
  await host.close();
  return costs;
}

async function main(): Promise<void> {
  const emu = new AzureEmulator();
  await emu.start();
  emu.addResourceGroup({ name: RG, location: "westus" });
  console.log(`CPU-seconds of one pwsh host: its start, then each of ${runs} probe runs`);
  for (const [label, env] of [
    ["tiered JIT (default)", {}],
    ["full JIT (DOTNET_TieredCompilation=0)", { DOTNET_TieredCompilation: "0" }],
  ] as const) {
    for (const withRole of [false, true]) {
      const [start, ...each] = await measure(emu, env, withRole);
      const total = start + each.reduce((a, b) => a + b, 0);
      console.log(
        `${label.padEnd(40)} ${withRole ? "role present " : "403 for 3 s  "} start ${start.toFixed(2)}  runs ${each.map((c) => c.toFixed(2)).join(" ")}  total ${total.toFixed(2)}`,
      );
    }
  }
  await emu.stop();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
