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
import { readGrantsOutcome } from "../../probe/grants";
import { READER_ROLE_ID } from "../../offline/azure-emulator";
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

test("the extension's script with -Grants bound runs grants mode under dash, and the judge proves the grant", async () => {
  await withLab({}, async (lab) => {
    const grants = [{ n: "g0", s: lab.scope, u: "", k: "arm", v: "2022-09-01", b: "" }];
    const settings = renderLinuxProbe({
      SubscriptionId: lab.emu.subscriptionId,
      ResourceGroupName: RG,
      DeadlineSeconds: 8,
      ...FAST,
      Grants: JSON.stringify(grants),
    });
    const script = gunzipSync(Buffer.from(settings.protectedSettings.script, "base64")).toString("utf8");
    expect(script.split("\n")[1]).toContain(`-Grants '${JSON.stringify(grants)}'`);
    const run = await runShProbe({
      shell: "dash",
      params: {},
      script,
      env: { IDENTITYLAB_IMDS_ENDPOINT: lab.emu.imdsUrl, IDENTITYLAB_ARM_URL: lab.emu.armUrl },
    });
    expect(run.report).toMatchObject({ ok: true, resourceGroup: null, permissions: null });
    expect(run.report.grants).toEqual([
      { n: "g0", oid: lab.emu.vmIdentity!.principalId, read: 200, data: null, perm: [[["*/read"], [], [], []]], cause: null, att: 3 },
    ]);
    const view = {
      statuses: [
        {
          code: "ProvisioningState/succeeded",
          message: `Enable succeeded: \n[stdout]\n${tail(run.stdout)}\n[stderr]\n${tail(run.stderr)}`,
        },
      ],
    };
    const intents = [
      {
        n: "g0",
        role: "Reader",
        roleDefinitionGuid: READER_ROLE_ID,
        scope: lab.scope,
        identity: "systemAssigned" as const,
        principalId: lab.emu.vmIdentity!.principalId,
        blob: false,
      },
    ];
    const o = readGrantsOutcome(view, intents, false);
    expect(o.outcome.status).toBe("succeeded");
    expect(o.verdicts.map((v) => v.verdict)).toEqual(["proven"]);
  });
});
