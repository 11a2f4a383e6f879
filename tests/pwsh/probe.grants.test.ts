/**
 * Grants mode (setups-design §3, §4), proven with real pwsh against the emulator's multi-VM world: the probe
 * reaches each grant with the identity it names, proves the ARM read, the data plane and the effective permissions,
 * and its report shows which identity answered. One case runs the exact Windows delivery: the loader from
 * commandToExecute fetching the probe from the VM's userData, in a pwsh process of its own as on the VM; the
 * others on the pooled hosts (probeHost.ts). The cases every probe runs (the sh probe too) are in
 * tests/probeGrants.ts, the worst-case size measurement behind MAX_GRANTS_PER_SETUP among them.
 */
import { AzureEmulator, READER_ROLE_ID } from "../../offline/azure-emulator";
import { findPwsh, pwshEnv, type ProbeRun } from "../../offline/pwsh";
import { runHosted, runProbeHosted } from "./probeHost";
import { hostCommandFor } from "../../offline/pwshHost";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { runToEnd } from "../../offline/process";
import { STORAGE_BLOB_DATA_READER } from "../../components/roles";
import { COMMAND_BUDGET, readProbeScript, renderWindowsProbe, type GrantProbeSpec } from "../../probe/command";
import { arm, blob, expectGrantsContract, probeGrantsTable } from "../probeGrants";
import { FAST } from "./probeLab";

const emu = new AzureEmulator();
let rg: string;
beforeAll(async () => {
  await emu.start();
  rg = emu.addResourceGroup({ name: "rg-grants", location: "westus" });
});
afterAll(() => emu.stop());

/** What the program renders the Windows delivery with, for the cases that run it. */
const loaderParams = () => ({
  subscriptionId: emu.subscriptionId,
  resourceGroupName: "rg-grants",
  armEndpoint: "https://management.azure.com/",
  deadlineSeconds: 20,
});

let vmCount = 0;
function vm(spec: { systemAssigned?: boolean; userAssigned?: string[]; resourceGroup?: string }) {
  const name = `vm${vmCount++}`;
  const base = emu.addVm({ name, resourceGroup: "rg-grants", ...spec });
  return { base, info: emu.vm(name) };
}

function account(name: string, resourceGroup = "rg-grants") {
  const a = emu.addStorageAccount({ name, resourceGroup, containers: ["probe"] });
  return { ...a, url: emu.containerUrl(name, "probe") };
}

function runGrants(
  imdsBase: string,
  grants: GrantProbeSpec[] | string,
  deadline = 20,
  mode: "embedded" | "file" = "embedded",
): Promise<ProbeRun> {
  return runProbeHosted({
    mode,
    variant: "grants",
    params: {
      SubscriptionId: emu.subscriptionId,
      ResourceGroupName: "rg-grants",
      DeadlineSeconds: deadline,
      ...FAST,
      Grants: typeof grants === "string" ? grants : JSON.stringify(grants),
    },
    env: { IDENTITYLAB_IMDS_ENDPOINT: imdsBase, IDENTITYLAB_ARM_URL: emu.armUrl },
  });
}

test("UAMI + Storage Blob Data Reader on a storage account, through the real loader and the VM's userData: data plane proven", async () => {
  const u = emu.addUserAssignedIdentity({ name: "uami-data", resourceGroup: "rg-grants" });
  const sa = account("idlabdata1");
  emu.assignRole({ scope: sa.id, roleDefinitionId: STORAGE_BLOB_DATA_READER.guid, principalId: u.principalId, effectiveAfterMs: 600 });
  const grants = [blob("g0", sa.id, u.clientId, sa.url)];
  const delivery = renderWindowsProbe(readProbeScript(), loaderParams(), grants);
  expect(delivery.commandToExecute.length).toBeLessThanOrEqual(COMMAND_BUDGET);
  const name = `vm${vmCount++}`;
  const base = emu.addVm({ name, resourceGroup: "rg-grants", userAssigned: [u.resourceId], userData: delivery.userData });
  const [exe, ...args] = delivery.commandToExecute.split(" ");
  expect(exe).toBe("powershell");
  const out = await runToEnd(findPwsh(), args, {
    env: pwshEnv({ IDENTITYLAB_IMDS_ENDPOINT: base, IDENTITYLAB_ARM_URL: emu.armUrl }),
    killAfterMs: 60_000,
  });
  const lastLine = out.stdout.trimEnd().split(/\r?\n/).pop()!;
  const r = expectGrantsContract({ ...out, lastLine, report: JSON.parse(lastLine) } as ProbeRun, 1);
  expect(r.ok).toBe(true);
  const [g] = r.grants;
  expect(g).toMatchObject({ n: "g0", oid: u.principalId, read: 200, data: 200, cause: null });
  expect(g.perm).toEqual([
    [STORAGE_BLOB_DATA_READER.actions, STORAGE_BLOB_DATA_READER.notActions, STORAGE_BLOB_DATA_READER.dataActions, []],
  ]);
  // RBAC propagation: the first answers were 403s, retried until the role took effect.
  expect(g.att).toBeGreaterThan(4);
  const blobCalls = emu.requests.filter((q) => q.server === "blob" && q.callerObjectId === u.principalId);
  expect(blobCalls.map((q) => q.status)).toContain(200);
  expect(emu.requests.some((q) => q.endpoint === "userData" && q.vm === name && q.status === 200)).toBe(true);
});

test("two identities with different grants: each answers for its own; without client_id IMDS answers with the system identity", async () => {
  const u = emu.addUserAssignedIdentity({ name: "uami-both", resourceGroup: "rg-grants" });
  const sa = account("idlabboth1");
  const { base, info } = vm({ systemAssigned: true, userAssigned: [u.resourceId] });
  const system = info.systemAssigned!;
  emu.assignRole({ scope: rg, roleDefinitionId: READER_ROLE_ID, principalId: system.principalId });
  emu.assignRole({ scope: sa.id, roleDefinitionId: STORAGE_BLOB_DATA_READER.guid, principalId: u.principalId });
  const run = await runGrants(
    base,
    [
      arm("g0", rg),
      blob("g1", sa.id, u.clientId, sa.url),
      // The UAMI's grant sent without its client_id: IMDS silently picks the system identity.
      blob("g2", sa.id, "", sa.url),
    ],
    // g2 waits out the deadline; 6 s leaves g0 and g1 room on a loaded machine (3 s cut g0's first request in CI,
    // when each run started a cold pwsh; the pooled hosts start none).
    6,
  );
  const r = expectGrantsContract(run, 3);
  expect(r.grants[0]).toMatchObject({ oid: system.principalId, read: 200, cause: null });
  expect(r.grants[0].perm).toEqual([[["*/read"], [], [], []]]);
  expect(r.grants[1]).toMatchObject({ oid: u.principalId, read: 200, data: 200, cause: null });
  // The mismatch is visible: g2's oid is the system identity's, and it has no data access.
  expect(r.grants[2].oid).toBe(system.principalId);
  expect(r.grants[2].oid).not.toBe(u.principalId);
  expect(r.grants[2].cause).not.toBeNull();
  expect(r.ok).toBe(false);
});

describe("negative controls", () => {
  test("the loader reports UserDataUnavailable, with IMDS's status, when userData cannot be fetched", async () => {
    const delivery = renderWindowsProbe(readProbeScript(), loaderParams(), [arm("g0", rg)]);
    const name = `vm${vmCount++}`;
    const base = emu.addVm({ name, resourceGroup: "rg-grants", systemAssigned: true, userData: delivery.userData });
    emu.injectFaults("userData", ...Array.from({ length: 50 }, () => ({ status: 503 })));
    const [, ...args] = delivery.commandToExecute.split(" ");
    // The loader makes no attempt that its backoff would start past the deadline: with 2 s, a first request that took
    // over 1 s on a cold pwsh (CI, under load) left it one attempt. 6 s leaves a retry room even then.
    const out = await runToEnd(findPwsh(), args, {
      env: pwshEnv({ IDENTITYLAB_IMDS_ENDPOINT: base, IDENTITYLAB_ARM_URL: emu.armUrl, IDENTITYLAB_DEADLINE_SECONDS: "6" }),
      killAfterMs: 60_000,
    });
    emu.clearFaults();
    const report = JSON.parse(out.stdout.trimEnd().split(/\r?\n/).pop()!);
    expect(report).toMatchObject({
      schema: "identitylab.probe/v1",
      ok: false,
      error: { phase: "userData", status: 503, code: "UserDataUnavailable" },
    });
    expect(report.attempts.imds).toBeGreaterThan(1);
    // Bad userData is not retried: it will not get better.
    emu.updateVm(name, { userData: Buffer.from("not the probe").toString("base64") });
    const bad = await runToEnd(findPwsh(), args, { env: pwshEnv({ IDENTITYLAB_IMDS_ENDPOINT: base }), killAfterMs: 60_000 });
    expect(JSON.parse(bad.stdout.trimEnd().split(/\r?\n/).pop()!)).toMatchObject({
      ok: false,
      error: { phase: "userData", code: "UserDataInvalid" },
    });
  });
});

test("the loader's report stays valid JSON when IMDS's error text has a backslash, a quote or non-ASCII in it", async () => {
  // Not the emulator: a server whose reason phrase the loader's message repeats (WebException: "(503) <phrase>").
  const server = http.createServer((_req, res) => {
    res.statusMessage = 'Down at C:\\Windows\\for "maintenance" \u00e9';
    res.writeHead(503).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const delivery = renderWindowsProbe(readProbeScript(), loaderParams(), [arm("g0", rg)]);
    const [, ...args] = delivery.commandToExecute.split(" ");
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const out = await runHosted(hostCommandFor(args), { IDENTITYLAB_IMDS_ENDPOINT: url, IDENTITYLAB_DEADLINE_SECONDS: "1" });
    const last = out.stdout.trimEnd().split(/\r?\n/).pop()!;
    const report = JSON.parse(last);
    expect(report).toMatchObject({ ok: false, error: { phase: "userData", status: 503, code: "UserDataUnavailable" } });
    // What was echoed is plain text: no escape (\\f here) smuggled in, the phrase still recognisable.
    expect(report.error.message).toMatch(/^The remote server returned an error: \(503\) Down at C: Windows for +maintenance/);
    expect(report.error.message).toMatch(/^[\x20-\x7e]*$/);
  } finally {
    server.close();
  }
});

// The cases every probe runs: subscription, client_id, resource scope, blob, missing grant, MAX_GRANTS_PER_SETUP, bad -Grants.
describe("the shared grants table (tests/probeGrants.ts)", () => {
  probeGrantsTable(emu, "rg-grants", "p", (imdsBase, grants, deadline = 20, env = {}) =>
    runProbeHosted({
      mode: "embedded",
      variant: "grants",
      params: {
        SubscriptionId: emu.subscriptionId,
        ResourceGroupName: "rg-grants",
        DeadlineSeconds: deadline,
        ...FAST,
        Grants: typeof grants === "string" ? grants : JSON.stringify(grants),
      },
      env: { IDENTITYLAB_IMDS_ENDPOINT: imdsBase, IDENTITYLAB_ARM_URL: emu.armUrl, ...env },
    }),
  );
});
