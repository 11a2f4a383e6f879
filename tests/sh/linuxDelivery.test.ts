/**
 * The Linux delivery end to end, offline: the script the extension would write (protectedSettings.script,
 * gunzipped, parameters bound) runs with no arguments under dash against the emulator, its stdout goes into
 * the status message the way the handler builds it (the last 4 KB of each stream; see probe/linuxCommand.test.ts
 * for the sources), and the program's one parser and verdict read it.
 */
import { gunzipSync } from "node:zlib";
import { runShProbe } from "../../offline/shProbe";
import { renderLinuxProbe } from "../../probe/linuxCommand";
import { readProbeOutcome } from "../../probe/report";
import { expectContract, FAST, RG, withLab } from "../pwsh/probeLab";

const tail = (s: string) => Buffer.from(s, "utf8").subarray(-4096).toString("utf8");

test("the extension's script, run as the extension runs it, gives a report the program reads as success", async () => {
  await withLab({}, async (lab) => {
    const settings = renderLinuxProbe({ SubscriptionId: lab.emu.subscriptionId, ResourceGroupName: RG, DeadlineSeconds: 8, ...FAST });
    const script = gunzipSync(Buffer.from(settings.protectedSettings.script, "base64")).toString("utf8");
    const run = await runShProbe({
      shell: "dash",
      params: {},
      script,
      env: { IDENTITYLAB_IMDS_ENDPOINT: lab.emu.imdsUrl, IDENTITYLAB_ARM_URL: lab.emu.armUrl },
    });
    expect(expectContract(run).ok).toBe(true);
    const view = {
      statuses: [
        {
          code: "ProvisioningState/succeeded",
          message: `Enable succeeded: \n[stdout]\n${tail(run.stdout)}\n[stderr]\n${tail(run.stderr)}`,
        },
      ],
    };
    const o = readProbeOutcome(view, RG, lab.emu.subscriptionId);
    expect(o.status).toBe("succeeded");
    expect(o.report?.identity?.objectId).toBe(lab.emu.vmIdentity!.principalId);
  });
});
