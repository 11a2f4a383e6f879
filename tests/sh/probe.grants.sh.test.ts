/**
 * Grants mode of the POSIX sh probe (scripts/identity-probe.sh) under real dash and real busybox sh, against the
 * emulator's multi-VM world: the shared grants table (tests/probeGrants.ts), the same one the PowerShell probe runs.
 */
import { AzureEmulator } from "../../offline/azure-emulator";
import { runShProbe, type ProbeShell } from "../../offline/shProbe";
import type { GrantProbeSpec } from "../../probe/command";
import { probeGrantsTable } from "../probeGrants";
import { FAST } from "../pwsh/probeLab";

const emu = new AzureEmulator();
beforeAll(async () => {
  await emu.start();
  emu.addResourceGroup({ name: "rg-shgrants", location: "westus" });
});
afterAll(() => emu.stop());

describe.each<ProbeShell>(["dash", "busybox"])("grants mode of the sh probe under %s", (shell) => {
  probeGrantsTable(
    emu,
    "rg-shgrants",
    shell === "dash" ? "d" : "b",
    (imdsBase: string, grants: GrantProbeSpec[] | string, deadline = 20, env = {}) =>
      runShProbe({
        shell,
        params: {
          SubscriptionId: emu.subscriptionId,
          ResourceGroupName: "rg-shgrants",
          DeadlineSeconds: deadline,
          ...FAST,
          Grants: typeof grants === "string" ? grants : JSON.stringify(grants),
        },
        env: { IDENTITYLAB_IMDS_ENDPOINT: imdsBase, IDENTITYLAB_ARM_URL: emu.armUrl, ...env },
      }),
  );
});
