/**
 * The emulator's multi-VM world (setups-design §5): per-VM IMDS with Azure's identity selection and userData,
 * user-assigned identities in tokens, RBAC at every scope kind with inheritance, ARM GETs of registered resources,
 * Permissions_ListForResource, role assignments with $filter, role definitions, and List Blobs.
 */
import { AzureEmulator, CONTRIBUTOR_ROLE_ID, decodeJwt, READER_ROLE_ID } from ".";
import { STORAGE_BLOB_DATA_READER } from "../../components/roles";

const emu = new AzureEmulator();
beforeAll(() => emu.start());
afterAll(() => emu.stop());

async function token(base: string, query: string): Promise<{ status: number; body: any; claims?: any }> {
  const r = await fetch(`${base}/metadata/identity/oauth2/token?api-version=2018-02-01&${query}`, { headers: { Metadata: "true" } });
  const body = (await r.json()) as any;
  return { status: r.status, body, claims: body.access_token ? decodeJwt(body.access_token)!.claims : undefined };
}

async function armGet(path: string, tok: string) {
  const r = await fetch(`${emu.armUrl}${path}`, { headers: { Authorization: `Bearer ${tok}` } });
  return { status: r.status, body: (await r.json()) as any };
}

describe("per-VM IMDS", () => {
  test("identity selection follows Azure's defaults and names", async () => {
    const u1 = emu.addUserAssignedIdentity({ name: "sel-u1" });
    const u2 = emu.addUserAssignedIdentity({ name: "sel-u2" });
    const both = emu.addVm({ name: "sel-both", systemAssigned: true, userAssigned: [u1.resourceId, u2.resourceId] });
    const onlyOne = emu.addVm({ name: "sel-one", userAssigned: [u1.resourceId] });
    const two = emu.addVm({ name: "sel-two", userAssigned: [u1.resourceId, u2.resourceId] });
    const sys = emu.vm("sel-both").systemAssigned!;
    const res = "resource=https%3A%2F%2Fmanagement.azure.com%2F";

    // Default: the system identity when enabled, else the single user-assigned one, else 400.
    expect((await token(both, res)).claims.oid).toBe(sys.principalId);
    expect((await token(both, res)).claims.xms_mirid).toBe(emu.vm("sel-both").resourceId);
    expect((await token(onlyOne, res)).claims.oid).toBe(u1.principalId);
    const none = await token(two, res);
    expect(none.status).toBe(400);
    expect(none.body).toEqual({ error: "invalid_request", error_description: "Identity not found" });

    // client_id / object_id / msi_res_id select; the token carries the UAMI's oid, appid and resource id.
    const byClient = await token(both, `${res}&client_id=${u2.clientId}`);
    expect(byClient.claims).toMatchObject({ oid: u2.principalId, appid: u2.clientId, xms_mirid: u2.resourceId });
    expect(byClient.body.client_id).toBe(u2.clientId);
    expect((await token(two, `${res}&object_id=${u1.principalId}`)).claims.oid).toBe(u1.principalId);
    expect((await token(two, `${res}&msi_res_id=${encodeURIComponent(u2.resourceId)}`)).claims.oid).toBe(u2.principalId);
    // An identity the VM does not have is not found, even if it exists elsewhere.
    const other = emu.addUserAssignedIdentity({ name: "sel-other" });
    expect((await token(both, `${res}&client_id=${other.clientId}`)).status).toBe(400);
    // The default base is still the single-VM world.
    expect((await token(emu.imdsUrl, res)).claims.oid).toBe(emu.vmIdentity!.principalId);
  });

  test("userData is served base64, as stored, with format=text only", async () => {
    const data = Buffer.from("hello probe").toString("base64");
    const base = emu.addVm({ name: "ud", systemAssigned: true, userData: data });
    const url = `${base}/metadata/instance/compute/userData?api-version=2021-01-01&format=text`;
    const r = await fetch(url, { headers: { Metadata: "true" } });
    expect(r.status).toBe(200);
    expect(await r.text()).toBe(data);
    expect((await fetch(url)).status).toBe(400);
    expect((await fetch(url.replace("&format=text", ""), { headers: { Metadata: "true" } })).status).toBe(400);
    expect((await fetch(url.replace("2021-01-01", "2020-09-01"), { headers: { Metadata: "true" } })).status).toBe(400);
    emu.injectFaults("userData", { status: 503 });
    expect((await fetch(url, { headers: { Metadata: "true" } })).status).toBe(503);
  });
});

describe("RBAC at every scope, ARM reads and the blob data plane", () => {
  const sub = () => `/subscriptions/${emu.subscriptionId}`;
  test("reads, permissions, role assignments and definitions, List Blobs", async () => {
    const rgId = emu.addResourceGroup({ name: "rg-g", location: "westus" });
    const sa = emu.addStorageAccount({ name: "idlabsa1", resourceGroup: "rg-g", containers: ["probe"] });
    const u = emu.addUserAssignedIdentity({ name: "g-u", resourceGroup: "rg-g" });
    const base = emu.addVm({ name: "g-vm", resourceGroup: "rg-g", userAssigned: [u.resourceId] });
    const arm = (await token(base, "resource=https%3A%2F%2Fmanagement.azure.com%2F")).body.access_token;
    const storage = (await token(base, "resource=https%3A%2F%2Fstorage.azure.com%2F")).body.access_token;
    const blobUrl = `${emu.containerUrl("idlabsa1", "probe")}?restype=container&comp=list&maxresults=1`;
    const blob = (tok: string, headers: Record<string, string> = { "x-ms-version": "2021-08-06" }) =>
      fetch(blobUrl, { headers: { Authorization: `Bearer ${tok}`, ...headers } });

    // Nothing granted: 403 everywhere; the data plane answers in Azure Storage's XML.
    expect((await armGet(`${sa.id}?api-version=2023-05-01`, arm)).status).toBe(403);
    const denied = await blob(storage);
    expect(denied.status).toBe(403);
    expect(denied.headers.get("x-ms-error-code")).toBe("AuthorizationPermissionMismatch");
    expect(await denied.text()).toMatch(/<Error><Code>AuthorizationPermissionMismatch<\/Code><Message>This request is not authorized/);

    // Storage Blob Data Reader on the account, inherited by the container.
    emu.assignRole({ scope: sa.id, roleDefinitionId: STORAGE_BLOB_DATA_READER.guid, principalId: u.principalId });
    const ok = await blob(storage);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain(
      '<EnumerationResults ServiceEndpoint="https://idlabsa1.blob.core.windows.net/" ContainerName="probe">',
    );
    expect((await blob(arm)).status).toBe(401); // ARM audience
    expect((await blob(storage, {})).status).toBe(403); // x-ms-version required
    // The data role reads the container (child resource) but not the account.
    expect((await armGet(`${sa.containerIds.probe}?api-version=2023-05-01`, arm)).status).toBe(200);
    expect((await armGet(`${sa.id}?api-version=2023-05-01`, arm)).status).toBe(403);
    const perm = await armGet(`${sa.containerIds.probe}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01`, arm);
    expect(perm.body.value[0].dataActions).toEqual(STORAGE_BLOB_DATA_READER.dataActions);

    // Contributor at the RG is inherited by the account and its UAMI; the subscription is still out of reach.
    emu.assignRole({ scope: rgId, roleDefinitionId: CONTRIBUTOR_ROLE_ID, principalId: u.principalId });
    expect((await armGet(`${u.resourceId}?api-version=2023-01-31`, arm)).body.properties.principalId).toBe(u.principalId);
    expect((await armGet(`${sa.id}?api-version=2023-05-01`, arm)).body).toMatchObject({
      id: sa.id,
      type: "Microsoft.Storage/storageAccounts",
    });
    const saPerm = await armGet(`${sa.id}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01`, arm);
    expect(saPerm.body.value.map((b: any) => b.actions[0])).toEqual(expect.arrayContaining(["*"]));
    expect((await armGet(`${sub()}?api-version=2022-12-01`, arm)).status).toBe(403);
    expect((await armGet(`${rgId}/providers/Microsoft.Storage/storageAccounts/nope?api-version=2023-05-01`, arm)).status).toBe(404);

    // Reader at the subscription: the subscription reads, role assignments list with assignedTo(), definitions GET.
    emu.assignRole({ scope: sub(), roleDefinitionId: READER_ROLE_ID, principalId: u.principalId });
    expect((await armGet(`${sub()}?api-version=2022-12-01`, arm)).body).toMatchObject({ id: sub(), subscriptionId: emu.subscriptionId });
    const list = await armGet(
      `${sub()}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=${encodeURIComponent(`assignedTo('${u.principalId}')`)}`,
      arm,
    );
    expect(list.status).toBe(200);
    expect(list.body.value.map((a: any) => a.properties.scope).sort()).toEqual([rgId, sa.id, sub()].sort());
    const atScope = await armGet(
      `${sub()}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=atScope()`,
      arm,
    );
    expect(atScope.body.value.map((a: any) => a.properties.scope)).toEqual([sub()]);
    const readerAssignment = list.body.value.find((a: any) => a.properties.scope === sub());
    const def = await armGet(`${readerAssignment.properties.roleDefinitionId}?api-version=2022-04-01`, arm);
    expect(def.body).toMatchObject({ name: READER_ROLE_ID, properties: { roleName: "Reader", permissions: [{ actions: ["*/read"] }] } });
  });
});
