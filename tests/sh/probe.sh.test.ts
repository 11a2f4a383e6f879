/**
 * The POSIX sh probe (scripts/identity-probe.sh) under real dash and real busybox sh (Debian's packages,
 * busybox's own utilities too), with the machine's curl, against the emulator: the shared cause table
 * (tests/probeFaults.ts), the same one the PowerShell probe runs, plus the contract's invariants.
 */
import { runShProbe, type ProbeShell } from "../../offline/shProbe";
import { probeFaultTable, type ProbeRunner } from "../probeFaults";
import { expectContract, FAST, outcomeOf, RG, withLab } from "../pwsh/probeLab";

const shells: ProbeShell[] = ["dash", "busybox"];

describe.each(shells)("the sh probe under %s", (shell) => {
  const runner: ProbeRunner = (lab, params = {}, env = {}) =>
    runShProbe({
      shell,
      params: { SubscriptionId: lab.emu.subscriptionId, ResourceGroupName: RG, DeadlineSeconds: 8, ...FAST, ...params },
      env: { IDENTITYLAB_IMDS_ENDPOINT: lab.emu.imdsUrl, IDENTITYLAB_ARM_URL: lab.emu.armUrl, ...env },
    });

  test("the tutorial: one token, the group, its permissions, and a success on evidence", async () => {
    await withLab({ tags: { env: "lab", "\u00fcml": "\u00e4\u{1f600}" } }, async (lab) => {
      const run = await runner(lab);
      const r = expectContract(run);
      expect(r.ok).toBe(true);
      expect(r.resourceGroup).toMatchObject({ id: lab.scope, name: RG, location: "westus", provisioningState: "Succeeded" });
      expect(r.resourceGroup.tags).toEqual({ env: "lab", "\u00fcml": "\u00e4\u{1f600}" });
      expect(r.permissions).toEqual([{ actions: ["*/read"], notActions: [], dataActions: [], notDataActions: [] }]);
      expect(r.identity.objectId).toBe(lab.emu.vmIdentity!.principalId);
      expect(r.identity.expiresOn).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(r.attempts).toEqual({ imds: 1, resourceGroup: 1, permissions: 1 });
      expect(outcomeOf(run, lab).status).toBe("succeeded");
    });
  });

  test("tags past the report's cap are trimmed longest first, and the report stays under 3,500 bytes", async () => {
    const tags: Record<string, string> = {};
    for (let i = 0; i < 40; i++) tags[`t${i}`] = "v".repeat(20 + i * 3);
    await withLab({ tags }, async (lab) => {
      const r = expectContract(await runner(lab));
      expect(r.ok).toBe(true);
      expect(r.trimmed).toEqual(["resourceGroup.tags"]);
      const kept = Object.keys(r.resourceGroup.tags);
      expect(kept.length).toBeGreaterThan(0);
      expect(kept).not.toContain("t39");
    });
  });

  probeFaultTable(runner);
});
