/**
 * Grants mode (probe/contract.md "Grants mode", "Report in grants mode") as one table of cases that every probe runs
 * against the emulator's multi-VM world: the PowerShell probe (tests/pwsh/probe.grants.test.ts) and the POSIX sh probe
 * under dash and busybox (tests/sh/probe.grants.sh.test.ts). Reader at the subscription (perm from the role
 * definitions), a user-assigned identity chosen by client_id, resource scope with inherited Contributor, a blob grant
 * through IDENTITYLAB_BLOB_URL, a role without the data action, a missing grant, a client_id the VM lacks, the
 * worst-case report size behind MAX_GRANTS_PER_SETUP, and bad -Grants. Reports are also read by the program's one
 * parser and judge (probe/grants.ts readGrantsOutcome) from a Linux-style status message.
 */
import { CONTRIBUTOR_ROLE_ID, READER_ROLE_ID, type AzureEmulator } from "../offline/azure-emulator";
import type { ProbeRun } from "../offline/pwsh";
import { STORAGE_BLOB_DATA_CONTRIBUTOR, STORAGE_BLOB_DATA_READER } from "../components/roles";
import type { GrantProbeSpec } from "../probe/command";
import { MAX_GRANTS_PER_SETUP, readGrantsOutcome, type GrantIntent } from "../probe/grants";
import { leaksToken } from "./pwsh/probeLab";

/** Runs the probe in grants mode with the given VM's IMDS base, the emulator's ARM URL and the fast timing. */
export type GrantsRunner = (
  imdsBase: string,
  grants: GrantProbeSpec[] | string,
  deadline?: number,
  env?: Record<string, string>,
) => Promise<ProbeRun>;

export const arm = (n: string, s: string, u = "", v = "2022-09-01"): GrantProbeSpec => ({ n, s, u, k: "arm", v, b: "" });
export const blob = (n: string, s: string, u: string, b: string): GrantProbeSpec => ({ n, s, u, k: "blob", v: "2023-05-01", b });

export function expectGrantsContract(run: ProbeRun, n: number): any {
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
  expect(r.schema).toBe("identitylab.probe/v1");
  expect(r.resourceGroup).toBeNull();
  expect(r.permissions).toBeNull();
  expect(r.attempts.resourceGroup).toBe(0);
  expect(r.grants).toHaveLength(n);
  for (const g of r.grants) expect(Object.keys(g)).toEqual(["n", "oid", "read", "data", "perm", "cause", "att"]);
  return r;
}

/** The program's reading of the run, from a Linux status message built as the handler builds it. */
function judged(run: ProbeRun, intents: GrantIntent[]) {
  const tail = (s: string) => Buffer.from(s, "utf8").subarray(-4096).toString("utf8");
  const view = {
    statuses: [
      { code: "ProvisioningState/succeeded", message: `Enable succeeded: \n[stdout]\n${tail(run.stdout)}\n[stderr]\n${tail(run.stderr)}` },
    ],
  };
  return readGrantsOutcome(view, intents, false);
}

const intent = (
  n: string,
  scope: string,
  principalId: string,
  identity: "systemAssigned" | "userAssigned" = "systemAssigned",
): GrantIntent => ({
  n,
  role: "Reader",
  roleDefinitionGuid: READER_ROLE_ID,
  scope,
  identity,
  principalId,
  blob: false,
});

/**
 * The table. `emu` must be started and hold resource group `rgName` before the tests run; `tag` (one lowercase letter:
 * the worst case's names are at Azure's maximum lengths with it) keeps the names of what each run registers in a shared emulator apart.
 */
export function probeGrantsTable(emu: AzureEmulator, rgName: string, tag: string, runGrants: GrantsRunner): void {
  let vmCount = 0;
  const sub = () => `/subscriptions/${emu.subscriptionId}`;
  const rgId = () => `/subscriptions/${emu.subscriptionId}/resourceGroups/${rgName}`;
  function vm(spec: { systemAssigned?: boolean; userAssigned?: string[] }) {
    const name = `${tag}vm${vmCount++}`;
    const base = emu.addVm({ name, resourceGroup: rgName, ...spec });
    return { base, info: emu.vm(name) };
  }

  test("Reader at subscription scope: perm from the role assignments covering the subscription and their definitions", async () => {
    const { base, info } = vm({ systemAssigned: true });
    const p = info.systemAssigned!.principalId;
    emu.assignRole({ scope: sub(), roleDefinitionId: READER_ROLE_ID, principalId: p });
    // An assignment below the subscription does not apply at it and must not be reported there.
    emu.assignRole({ scope: rgId(), roleDefinitionId: CONTRIBUTOR_ROLE_ID, principalId: p });
    const run = await runGrants(base, [arm("g0", sub(), "", "2022-12-01")]);
    const r = expectGrantsContract(run, 1);
    expect(r.ok).toBe(true);
    expect(r.error).toBeNull();
    expect(r.grants[0]).toMatchObject({ n: "g0", oid: p, read: 200, data: null, cause: null, perm: [[["*/read"], [], [], []]] });
    expect(r.identity.objectId).toBe(p);
    const ra = emu.requests.find((q) => q.endpoint === "roleAssignments" && q.callerObjectId === p)!;
    expect(ra.query.$filter).toBe(`assignedTo('${p}')`);
    expect(emu.requests.filter((q) => q.endpoint === "roleDefinition" && q.callerObjectId === p)).toHaveLength(1);
    const o = judged(run, [intent("g0", sub(), p)]);
    expect(o.outcome.status).toBe("succeeded");
    expect(o.verdicts.map((v) => v.verdict)).toEqual(["proven"]);
  });

  test("a user-assigned identity chosen by client_id answers with its own oid, beside the system identity", async () => {
    const u = emu.addUserAssignedIdentity({ name: `${tag}-uami`, resourceGroup: rgName });
    const { base, info } = vm({ systemAssigned: true, userAssigned: [u.resourceId] });
    const system = info.systemAssigned!.principalId;
    emu.assignRole({ scope: rgId(), roleDefinitionId: READER_ROLE_ID, principalId: system });
    emu.assignRole({ scope: rgId(), roleDefinitionId: READER_ROLE_ID, principalId: u.principalId });
    const run = await runGrants(base, [arm("g0", rgId()), arm("g1", rgId(), u.clientId)]);
    const r = expectGrantsContract(run, 2);
    expect(r.ok).toBe(true);
    expect(r.grants[0]).toMatchObject({ oid: system, read: 200, perm: [[["*/read"], [], [], []]], cause: null });
    expect(r.grants[1]).toMatchObject({ oid: u.principalId, read: 200, perm: [[["*/read"], [], [], []]], cause: null });
    expect(r.attempts).toEqual({ imds: 2, resourceGroup: 0, permissions: 2 });
    const o = judged(run, [intent("g0", rgId(), system), intent("g1", rgId(), u.principalId, "userAssigned")]);
    expect(o.verdicts.map((v) => v.verdict)).toEqual(["proven", "proven"]);
  });

  test("resource scope: Reader on a storage account, the Contributor inherited from the group visible in perm", async () => {
    const u = emu.addUserAssignedIdentity({ name: `${tag}-uami-over`, resourceGroup: rgName });
    const sa = emu.addStorageAccount({
      name: `idlabover${tag}`,
      resourceGroup: rgName,
      containers: ["probe"],
    });
    const { base } = vm({ userAssigned: [u.resourceId] });
    emu.assignRole({ scope: sa.id, roleDefinitionId: READER_ROLE_ID, principalId: u.principalId });
    emu.assignRole({ scope: rgId(), roleDefinitionId: CONTRIBUTOR_ROLE_ID, principalId: u.principalId });
    const r = expectGrantsContract(await runGrants(base, [arm("g0", sa.id, "", "2023-05-01")]), 1);
    expect(r.ok).toBe(true);
    expect(r.grants[0].oid).toBe(u.principalId);
    expect(r.grants[0].perm.map((b: string[][]) => b[0])).toEqual(expect.arrayContaining([["*/read"], ["*"]]));
  });

  test("Storage Blob Data Reader: the container read, its permissions and List Blobs through IDENTITYLAB_BLOB_URL", async () => {
    const u = emu.addUserAssignedIdentity({ name: `${tag}-uami-data`, resourceGroup: rgName });
    const acct = `idlabdata${tag}`;
    const sa = emu.addStorageAccount({ name: acct, resourceGroup: rgName, containers: ["probe"] });
    const { base } = vm({ userAssigned: [u.resourceId] });
    emu.assignRole({ scope: sa.id, roleDefinitionId: STORAGE_BLOB_DATA_READER.guid, principalId: u.principalId });
    // The grant names the real Azure URL; the seam sends it to the emulator's path-style blob service.
    const url = `https://${acct}.blob.core.windows.net/probe`;
    const r = expectGrantsContract(
      await runGrants(base, [blob("g0", sa.id, u.clientId, url)], undefined, { IDENTITYLAB_BLOB_URL: emu.blobUrl }),
      1,
    );
    expect(r.ok).toBe(true);
    expect(r.grants[0]).toMatchObject({ n: "g0", oid: u.principalId, read: 200, data: 200, cause: null });
    expect(r.grants[0].perm).toEqual([
      [STORAGE_BLOB_DATA_READER.actions, STORAGE_BLOB_DATA_READER.notActions, STORAGE_BLOB_DATA_READER.dataActions, []],
    ]);
    const blobCalls = emu.requests.filter((q) => q.server === "blob" && q.callerObjectId === u.principalId);
    expect(blobCalls.map((q) => q.status)).toContain(200);
  });

  test("a control-plane role without the data action: List Blobs answers AuthorizationPermissionMismatch", async () => {
    const u = emu.addUserAssignedIdentity({ name: `${tag}-uami-nodata`, resourceGroup: rgName });
    const acct = `idlabnod${tag}`;
    const sa = emu.addStorageAccount({ name: acct, resourceGroup: rgName, containers: ["probe"] });
    const { base } = vm({ userAssigned: [u.resourceId] });
    emu.assignRole({ scope: sa.id, roleDefinitionId: READER_ROLE_ID, principalId: u.principalId });
    const r = expectGrantsContract(await runGrants(base, [blob("g0", sa.id, u.clientId, emu.containerUrl(acct, "probe"))], 5), 1);
    expect(r.ok).toBe(false);
    expect(r.grants[0]).toMatchObject({ read: 200, data: 403, cause: "AuthorizationPermissionMismatch" });
    expect(r.grants[0].perm).toEqual([[["*/read"], [], [], []]]);
    expect(r.error).toMatchObject({ phase: "data", status: 403, code: "AuthorizationPermissionMismatch" });
  });

  test("a missing grant: 403 until the deadline, the cause reported; later grants get what is left of it", async () => {
    const { base, info } = vm({ systemAssigned: true });
    const p = info.systemAssigned!.principalId;
    const t0 = Date.now();
    const run = await runGrants(base, [arm("g0", rgId()), arm("g1", rgId())], 3);
    const r = expectGrantsContract(run, 2);
    // It waits out its deadline: it stops once the next backoff (at most RetryCapSeconds, 0.2 s) would pass it.
    expect(Date.now() - t0).toBeGreaterThan(3000 - 300);
    expect(r.ok).toBe(false);
    expect(r.grants[0]).toMatchObject({ oid: p, read: 403, perm: null, cause: "AuthorizationFailed" });
    // Retried until the deadline (the wall time above): how many tries fit in 3 s depends on the machine's load
    // (a dash probe under a loaded CI made 4), so only "more than one retry" is asserted.
    expect(r.grants[0].att).toBeGreaterThan(2);
    // What is left is less than one backoff (at most RetryCapSeconds): g1's one try may be cut by the deadline on the
    // way (the request's timeout is what is left), which both probes report as Timeout with no status; the PowerShell
    // probe's faster client makes that rarer there, not impossible (Invoke-Get: the deadline rule needs $n -gt 1).
    expect(["AuthorizationFailed", "NotReached", "Timeout"]).toContain(r.grants[1].cause);
    if (r.grants[1].cause === "Timeout") expect(r.grants[1].read).toBeNull();
    expect(r.grants[1].att).toBeLessThanOrEqual(3);
    expect(r.error).toMatchObject({ phase: "read", status: 403, code: "AuthorizationFailed" });
    const o = judged(run, [intent("g0", rgId(), p), intent("g1", rgId(), p)]);
    expect(o.outcome.status).not.toBe("succeeded");
    expect(o.verdicts.map((v) => v.verdict)).toEqual(["missing", "missing"]);
  });

  test("a client_id the VM does not have: IMDS's 400, reported at once", async () => {
    const other = emu.addUserAssignedIdentity({ name: `${tag}-elsewhere`, resourceGroup: rgName });
    const { base } = vm({ systemAssigned: true });
    const r = expectGrantsContract(await runGrants(base, [arm("g0", rgId(), other.clientId)]), 1);
    expect(r.grants[0]).toMatchObject({ oid: null, read: null, perm: null, cause: "invalid_request" });
    expect(r.error).toMatchObject({ phase: "imds", status: 400 });
    // At once: one request, not retried until the deadline (a wall-clock bound flaked on a cold pwsh).
    expect(r.grants[0].att).toBe(1);
  });

  test(`MAX_GRANTS_PER_SETUP: ${MAX_GRANTS_PER_SETUP} worst-case grants report within 3,500 bytes, only error.message cut; one more trims perm lists`, async () => {
    // Longest ids (a 90-character group, a 128-character identity name, a 24-character account), the largest
    // built-in data role's block plus an inherited Reader block on every grant, the last grant failing with a long error.
    const longRg = `${tag}${"r".repeat(42)}.${"(x)-_".repeat(9)}r`;
    emu.addResourceGroup({ name: longRg, location: "westus" });
    const u = emu.addUserAssignedIdentity({ name: tag + "u".repeat(127), resourceGroup: longRg });
    const acct = tag + "w".repeat(23);
    const sa = emu.addStorageAccount({ name: acct, resourceGroup: longRg, containers: ["probe"] });
    emu.assignRole({
      scope: `/subscriptions/${emu.subscriptionId}/resourceGroups/${longRg}`,
      roleDefinitionId: READER_ROLE_ID,
      principalId: u.principalId,
    });
    emu.assignRole({ scope: sa.id, roleDefinitionId: STORAGE_BLOB_DATA_CONTRIBUTOR.guid, principalId: u.principalId });
    const name = `${tag}vm${vmCount++}`;
    const base = emu.addVm({ name, resourceGroup: longRg, userAssigned: [u.resourceId] });
    const url = emu.containerUrl(acct, "probe");
    const grants = (n: number) => Array.from({ length: n }, (_, i) => blob(`g${i}`, sa.id, u.clientId, url));
    const longError = {
      status: 400,
      body: `<?xml version="1.0" encoding="utf-8"?><Error><Code>${"InvalidQueryParameterValue".padEnd(80, "x")}</Code><Message>${"Value for one of the query parameters specified in the request URI is invalid. ".repeat(5)}</Message></Error>`,
    };
    const measure = async (n: number) => {
      emu.clearFaults();
      emu.injectFaults("blob", ...Array.from({ length: n - 1 }, () => ({})), longError);
      const run = await runGrants(base, grants(n), 12);
      emu.clearFaults();
      return run;
    };
    const run = await measure(MAX_GRANTS_PER_SETUP);
    const r = expectGrantsContract(run, MAX_GRANTS_PER_SETUP);
    expect(r.grants.slice(0, -1).every((g: any) => g.cause === null && g.data === 200)).toBe(true);
    expect(r.grants.at(-1)).toMatchObject({ data: 400 });
    expect(r.grants.at(-1).cause).toMatch(/^InvalidQueryParameterValue/);
    expect(r.error).toMatchObject({ phase: "data", status: 400 });
    expect(r.error.message.length).toBeLessThanOrEqual(100);
    expect(r.trimmed).toEqual(["error.message"]);
    for (const g of r.grants) expect(g.perm).toHaveLength(2);
    const over = await measure(MAX_GRANTS_PER_SETUP + 1);
    const r2 = expectGrantsContract(over, MAX_GRANTS_PER_SETUP + 1);
    expect(r2.trimmed[0]).toBe("error.message");
    expect(r2.trimmed.slice(1).length).toBeGreaterThan(0);
    for (const t of r2.trimmed.slice(1)) expect(t).toMatch(/^grants\[\d+\]\.perm$/);
  }, 60_000);

  test("-Grants that is not a list of grant specs is refused with InvalidGrants and no request", async () => {
    const { base } = vm({ systemAssigned: true });
    for (const bad of ['[{"n":"g0"}]', "not json", "[]", '{"n":"g0"}', '[{"n":"g0","s":"/x","u":"","k":"arm","v":1,"b":""}]']) {
      const before = emu.requests.length;
      const r = expectGrantsContract(await runGrants(base, bad), 0);
      expect(r.ok).toBe(false);
      expect(r.error).toMatchObject({ phase: "grants", status: null, code: "InvalidGrants" });
      expect(r.identity).toBeNull();
      expect(emu.requests.length).toBe(before);
    }
  });
}
