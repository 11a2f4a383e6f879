/**
 * Grants mode (setups-design §3, §4), proven with real pwsh against the emulator's multi-VM world: the probe
 * reaches each grant with the identity it names, proves the ARM read, the data plane and the effective permissions,
 * and its report shows which identity answered. One case runs the exact Windows delivery: the loader from
 * commandToExecute fetching the probe from the VM's userData.
 */
import { AzureEmulator, CONTRIBUTOR_ROLE_ID, READER_ROLE_ID } from "../../offline/azure-emulator";
import { findPwsh, pwshEnv, runProbe, type ProbeRun } from "../../offline/pwsh";
import { runToEnd } from "../../offline/process";
import { STORAGE_BLOB_DATA_CONTRIBUTOR, STORAGE_BLOB_DATA_READER } from "../../components/roles";
import { COMMAND_BUDGET, readProbeScript, renderWindowsProbe, type GrantProbeSpec } from "../../probe/command";
import { MAX_GRANTS_PER_SETUP } from "../../probe/grants";
import { FAST, leaksToken } from "./probeLab";

/**
 * How many grants a setup may have: the most whose worst-case report stays within 3,500 bytes of CSE's 4,096-byte
 * stdout window with every permission list whole, measured below (probe/contract.md "Report in grants mode").
 */
const MAX_GRANTS_MEASURED = MAX_GRANTS_PER_SETUP;

const emu = new AzureEmulator();
let sub: string;
let rg: string;
beforeAll(async () => {
  await emu.start();
  sub = `/subscriptions/${emu.subscriptionId}`;
  rg = emu.addResourceGroup({ name: "rg-grants", location: "westus" });
});
afterAll(() => emu.stop());

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
  deadline = 8,
  mode: "embedded" | "file" = "embedded",
): Promise<ProbeRun> {
  return runProbe({
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

/** The contract's invariants for a grants-mode run. */
function expectGrantsContract(run: ProbeRun, n: number): any {
  if (run.code !== 0 || run.report === null) throw new Error(`probe exited ${run.code} without a report\n${run.stdout}\n${run.stderr}`);
  expect(run.stderr).toBe("");
  expect(leaksToken(run.stdout) || leaksToken(run.stderr)).toBe(false);
  expect(Buffer.byteLength(run.lastLine, "utf8")).toBeLessThan(3500);
  expect(run.lastLine).toMatch(/^[\x20-\x7e]+$/);
  const r = run.report;
  expect(Object.keys(r)).toEqual([
    "schema",
    "ok",
    "resourceGroup",
    "identity",
    "permissions",
    "attempts",
    "elapsedSeconds",
    "trimmed",
    "error",
    "grants",
  ]);
  expect(r.resourceGroup).toBeNull();
  expect(r.permissions).toBeNull();
  expect(r.grants).toHaveLength(n);
  for (const g of r.grants) expect(Object.keys(g)).toEqual(["n", "oid", "read", "data", "perm", "cause", "att"]);
  return r;
}

const arm = (n: string, s: string, u = "", v = "2022-09-01"): GrantProbeSpec => ({ n, s, u, k: "arm", v, b: "" });
const blob = (n: string, s: string, u: string, b: string): GrantProbeSpec => ({ n, s, u, k: "blob", v: "2023-05-01", b });

test("UAMI + Storage Blob Data Reader on a storage account, through the real loader and the VM's userData: data plane proven", async () => {
  const u = emu.addUserAssignedIdentity({ name: "uami-data", resourceGroup: "rg-grants" });
  const sa = account("idlabdata1");
  emu.assignRole({ scope: sa.id, roleDefinitionId: STORAGE_BLOB_DATA_READER.guid, principalId: u.principalId, effectiveAfterMs: 600 });
  const grants = [blob("g0", sa.id, u.clientId, sa.url)];
  const params = {
    subscriptionId: emu.subscriptionId,
    resourceGroupName: "rg-grants",
    armEndpoint: "https://management.azure.com/",
    deadlineSeconds: 20,
  };
  const delivery = renderWindowsProbe(readProbeScript(), params, grants);
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
    3,
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

test("Reader at subscription scope: permissions from the role assignments covering the subscription and their definitions", async () => {
  const { base, info } = vm({ systemAssigned: true });
  const p = info.systemAssigned!.principalId;
  emu.assignRole({ scope: sub, roleDefinitionId: READER_ROLE_ID, principalId: p });
  // An assignment below the subscription does not apply at it and must not be reported there.
  emu.assignRole({ scope: rg, roleDefinitionId: CONTRIBUTOR_ROLE_ID, principalId: p });
  const r = expectGrantsContract(await runGrants(base, [arm("g0", sub, "", "2022-12-01")]), 1);
  expect(r.ok).toBe(true);
  expect(r.grants[0]).toMatchObject({ oid: p, read: 200, data: null, cause: null, perm: [[["*/read"], [], [], []]] });
  const ra = emu.requests.find((q) => q.endpoint === "roleAssignments" && q.callerObjectId === p)!;
  expect(ra.query.$filter).toBe(`assignedTo('${p}')`);
  expect(emu.requests.filter((q) => q.endpoint === "roleDefinition" && q.callerObjectId === p)).toHaveLength(1);
});

test("over-privileged: Contributor inherited from the resource group is visible in the storage account grant's perm", async () => {
  const u = emu.addUserAssignedIdentity({ name: "uami-over", resourceGroup: "rg-grants" });
  const sa = account("idlabover1");
  const { base } = vm({ userAssigned: [u.resourceId] });
  emu.assignRole({ scope: sa.id, roleDefinitionId: READER_ROLE_ID, principalId: u.principalId });
  emu.assignRole({ scope: rg, roleDefinitionId: CONTRIBUTOR_ROLE_ID, principalId: u.principalId });
  // The single user-assigned identity is IMDS's default, so u may be "".
  const r = expectGrantsContract(await runGrants(base, [arm("g0", sa.id, "", "2023-05-01")]), 1);
  expect(r.ok).toBe(true);
  expect(r.grants[0].oid).toBe(u.principalId);
  const actions = r.grants[0].perm.map((b: string[][]) => b[0]);
  expect(actions).toEqual(expect.arrayContaining([["*/read"], ["*"]]));
});

test("a missing grant: 403 until the deadline, the cause reported; later grants get what is left of it", async () => {
  const { base, info } = vm({ systemAssigned: true });
  const t0 = Date.now();
  const r = expectGrantsContract(await runGrants(base, [arm("g0", rg), arm("g1", rg)], 3), 2);
  expect(Date.now() - t0).toBeGreaterThan(3000);
  expect(r.ok).toBe(false);
  expect(r.grants[0]).toMatchObject({ oid: info.systemAssigned!.principalId, read: 403, perm: null, cause: "AuthorizationFailed" });
  expect(r.grants[0].att).toBeGreaterThan(5);
  // The deadline is the whole probe's: what is left of it after g0 is at most a try for g1.
  expect(["AuthorizationFailed", "NotReached"]).toContain(r.grants[1].cause);
  expect(r.grants[1].att).toBeLessThanOrEqual(3);
  expect(r.error).toMatchObject({ phase: "read", status: 403, code: "AuthorizationFailed" });
});

describe("negative controls", () => {
  test("a client_id the VM does not have: IMDS's 400, reported at once", async () => {
    const other = emu.addUserAssignedIdentity({ name: "uami-elsewhere", resourceGroup: "rg-grants" });
    const { base } = vm({ systemAssigned: true });
    const r = expectGrantsContract(await runGrants(base, [arm("g0", rg, other.clientId)]), 1);
    expect(r.grants[0]).toMatchObject({ oid: null, read: null, perm: null, cause: "invalid_request" });
    expect(r.error).toMatchObject({ phase: "imds", status: 400 });
    expect(r.elapsedSeconds).toBeLessThan(3);
  });

  test("a control-plane role without the data action: List Blobs answers AuthorizationPermissionMismatch", async () => {
    const u = emu.addUserAssignedIdentity({ name: "uami-nodata", resourceGroup: "rg-grants" });
    const sa = account("idlabnodata1");
    const { base } = vm({ userAssigned: [u.resourceId] });
    emu.assignRole({ scope: sa.id, roleDefinitionId: READER_ROLE_ID, principalId: u.principalId });
    const r = expectGrantsContract(await runGrants(base, [blob("g0", sa.id, u.clientId, sa.url)], 2), 1);
    expect(r.ok).toBe(false);
    expect(r.grants[0]).toMatchObject({ read: 200, data: 403, cause: "AuthorizationPermissionMismatch" });
    expect(r.grants[0].perm).toEqual([[["*/read"], [], [], []]]);
  });

  test("-Grants that is not a list of grant specs is refused with InvalidGrants", async () => {
    const { base } = vm({ systemAssigned: true });
    for (const bad of ['[{"n":"g0"}]', "not json", "[]"]) {
      const r = expectGrantsContract(await runGrants(base, bad), 0);
      expect(r.ok).toBe(false);
      expect(r.error.code).toBe("InvalidGrants");
    }
  });

  test("the loader reports UserDataUnavailable, with IMDS's status, when userData cannot be fetched", async () => {
    const params = {
      subscriptionId: emu.subscriptionId,
      resourceGroupName: "rg-grants",
      armEndpoint: "https://management.azure.com/",
      deadlineSeconds: 20,
    };
    const delivery = renderWindowsProbe(readProbeScript(), params, [arm("g0", rg)]);
    const name = `vm${vmCount++}`;
    const base = emu.addVm({ name, resourceGroup: "rg-grants", systemAssigned: true, userData: delivery.userData });
    emu.injectFaults("userData", ...Array.from({ length: 50 }, () => ({ status: 503 })));
    const [, ...args] = delivery.commandToExecute.split(" ");
    const out = await runToEnd(findPwsh(), args, {
      env: pwshEnv({ IDENTITYLAB_IMDS_ENDPOINT: base, IDENTITYLAB_ARM_URL: emu.armUrl, IDENTITYLAB_DEADLINE_SECONDS: "2" }),
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

test(`MAX_GRANTS_PER_SETUP: ${MAX_GRANTS_MEASURED} worst-case grants report within 3,500 bytes; one more would not fit untrimmed`, async () => {
  // Longest ids (a 90-character group, a 128-character identity name), the largest built-in data role's block plus
  // an inherited Reader block on every grant, and a failing grant whose error carries a long message.
  const rgName = `${"r".repeat(43)}.${"(x)-_".repeat(9)}r`;
  emu.addResourceGroup({ name: rgName, location: "westus" });
  const u = emu.addUserAssignedIdentity({ name: "u".repeat(128), resourceGroup: rgName });
  const sa = emu.addStorageAccount({ name: "w".repeat(24), resourceGroup: rgName, containers: ["probe"] });
  const rgScope = `/subscriptions/${emu.subscriptionId}/resourceGroups/${rgName}`;
  emu.assignRole({ scope: rgScope, roleDefinitionId: READER_ROLE_ID, principalId: u.principalId });
  emu.assignRole({ scope: sa.id, roleDefinitionId: STORAGE_BLOB_DATA_CONTRIBUTOR.guid, principalId: u.principalId });
  const name = `vm${vmCount++}`;
  const base = emu.addVm({ name, resourceGroup: rgName, userAssigned: [u.resourceId] });
  const url = emu.containerUrl("w".repeat(24), "probe");
  const grants = (n: number) => Array.from({ length: n }, (_, i) => blob(`g${i}`, sa.id, u.clientId, url));
  const longError = (count: number) =>
    Array.from({ length: count }, () => ({
      status: 400,
      body: `<?xml version="1.0" encoding="utf-8"?><Error><Code>${"InvalidQueryParameterValue".padEnd(80, "x")}</Code><Message>${"Value for one of the query parameters specified in the request URI is invalid. ".repeat(5)}</Message></Error>`,
    }));
  // The last grant's List Blobs fails with a long error; the others prove everything.
  const measure = async (n: number) => {
    emu.clearFaults();
    emu.injectFaults("blob", ...Array.from({ length: n - 1 }, () => ({})), ...longError(1));
    const run = await runGrants(base, grants(n), 8);
    emu.clearFaults();
    return run;
  };
  const run = await measure(MAX_GRANTS_MEASURED);
  const r = expectGrantsContract(run, MAX_GRANTS_MEASURED);
  expect(Buffer.byteLength(run.lastLine)).toBeLessThanOrEqual(3500);
  expect(r.grants.slice(0, -1).every((g: any) => g.cause === null && g.data === 200)).toBe(true);
  expect(r.grants.at(-1).cause).toMatch(/^InvalidQueryParameterValue/);
  // Only ARM's prose is cut at this count; every grant's permission lists are whole.
  expect(r.trimmed).toEqual(["error.message"]);
  for (const g of r.grants) expect(g.perm).toHaveLength(2);
  // One grant more: the lists must be trimmed (still under the cap, and saying so).
  const over = await measure(MAX_GRANTS_MEASURED + 1);
  const r2 = expectGrantsContract(over, MAX_GRANTS_MEASURED + 1);
  expect(r2.trimmed.some((t: string) => /^grants\[\d+\]\.perm$/.test(t))).toBe(true);
}, 60_000);
