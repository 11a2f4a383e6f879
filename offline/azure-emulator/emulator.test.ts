/**
 * The emulator's own behaviour, over real HTTP. Fidelity against Microsoft's SDK clients is in
 * emulator.sdk.test.ts.
 */
import { readFileSync } from "node:fs";
import * as https from "node:https";

import {
  actionMatches,
  AzureEmulator,
  BUILT_IN_ROLES,
  CONTRIBUTOR_ROLE_ID,
  decodeJwt,
  dotnetUtc,
  OWNER_ROLE_ID,
  READER_ROLE_ID,
  roleGrants,
  scopeCovers,
} from ".";
import { BUILT_IN_ROLE_DEFINITIONS, STORAGE_BLOB_DATA_READER } from "../../components/roles";

const ARM = "https://management.azure.com/";
const SUB = "11111111-2222-3333-4444-555555555555";
const TENANT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const PRINCIPAL = "0f0f0f0f-1111-2222-3333-444444444444";
const CLIENT = "c1c1c1c1-1111-2222-3333-444444444444";
const VM_ID = `/subscriptions/${SUB}/resourceGroups/rg-vm/providers/Microsoft.Compute/virtualMachines/vm1`;
const RG_READ = "Microsoft.Resources/subscriptions/resourceGroups/read";

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(5000) });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, text, json };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tokenUrl(emu: AzureEmulator, query = `api-version=2018-02-01&resource=${encodeURIComponent(ARM)}`): string {
  return `${emu.imdsUrl}/metadata/identity/oauth2/token?${query}`;
}

async function imdsToken(emu: AzureEmulator, resource = ARM): Promise<string> {
  const r = await call(tokenUrl(emu, `api-version=2018-02-01&resource=${encodeURIComponent(resource)}`), {
    headers: { Metadata: "true" },
  });
  expect(r.status).toBe(200);
  return r.json.access_token as string;
}

function rgUrl(emu: AzureEmulator, rg: string, sub = SUB, base = emu.armUrl): string {
  return `${base}/subscriptions/${sub}/resourceGroups/${rg}?api-version=2022-09-01`;
}

function permUrl(emu: AzureEmulator, rg: string, sub = SUB): string {
  return `${emu.armUrl}/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01`;
}

const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

describe("AzureEmulator", () => {
  const emu = new AzureEmulator({ tenantId: TENANT, subscriptionId: SUB });
  let token: string;

  beforeAll(async () => {
    await emu.start();
    emu.setVmIdentity({ principalId: PRINCIPAL, clientId: CLIENT, resourceId: VM_ID });
    emu.addResourceGroup({ name: "rg-a", location: "westus", tags: { env: "lab" } });
    emu.addResourceGroup({ name: "rg-b", location: "eastus" });
    token = await imdsToken(emu);
  });
  afterAll(() => emu.stop());
  beforeEach(() => {
    emu.clearFaults();
    emu.clearRequests();
    for (const a of emu.listRoleAssignments()) emu.removeRoleAssignment(a.id);
    emu.setVmIdentity({ principalId: PRINCIPAL, clientId: CLIENT, resourceId: VM_ID });
  });

  describe("IMDS token endpoint", () => {
    it("answers like the docs: every number a string, refresh_token empty, Bearer, client_id", async () => {
      const r = await call(tokenUrl(emu), { headers: { Metadata: "true" } });
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toMatch(/^application\/json/);
      const b = r.json;
      expect(Object.keys(b).sort()).toEqual(
        [
          "access_token",
          "client_id",
          "expires_in",
          "expires_on",
          "ext_expires_in",
          "not_before",
          "refresh_token",
          "resource",
          "token_type",
        ].sort(),
      );
      for (const k of ["expires_in", "expires_on", "not_before", "ext_expires_in"]) expect(b[k]).toMatch(/^\d+$/);
      expect(b).toMatchObject({ refresh_token: "", resource: ARM, token_type: "Bearer", client_id: CLIENT, expires_in: "86399" });
      expect(Number(b.expires_on) - Number(b.not_before)).toBe(86399);
      expect(Math.abs(Number(b.not_before) - Date.now() / 1000)).toBeLessThan(5);
    });

    it("issues a real RS256 JWT with the managed-identity claims", async () => {
      const raw = await imdsToken(emu, "https://vault.azure.net");
      const jwt = decodeJwt(raw)!;
      expect(jwt).not.toBeNull();
      expect(jwt.header).toMatchObject({ typ: "JWT", alg: "RS256" });
      expect(jwt.header.kid).toEqual(expect.any(String));
      expect(jwt.signature.length).toBe(256); // RSA-2048
      const c = jwt.claims;
      expect(c).toMatchObject({
        aud: "https://vault.azure.net",
        iss: `https://sts.windows.net/${TENANT}/`,
        idp: `https://sts.windows.net/${TENANT}/`,
        oid: PRINCIPAL,
        sub: PRINCIPAL,
        tid: TENANT,
        appid: CLIENT,
        appidacr: "2",
        idtyp: "app",
        ver: "1.0",
        xms_mirid: VM_ID,
      });
      const now = Date.now() / 1000;
      expect(c.nbf as number).toBeLessThanOrEqual(now + 1);
      expect((c.exp as number) - (c.iat as number)).toBe(86399);
      for (const k of ["aio", "rh", "uti"]) expect(c[k]).toEqual(expect.any(String));
    });

    it("requires `Metadata: true`, in lower case", async () => {
      const expected = { error: "invalid_request", error_description: "Required metadata header not specified" };
      const none = await call(tokenUrl(emu));
      expect(none.status).toBe(400);
      expect(none.json).toEqual(expected);
      const upper = await call(tokenUrl(emu), { headers: { Metadata: "True" } });
      expect(upper.status).toBe(400);
      expect(upper.json).toEqual(expected);
    });

    it("rejects X-Forwarded-For even with the Metadata header", async () => {
      const r = await call(tokenUrl(emu), { headers: { Metadata: "true", "X-Forwarded-For": "10.1.2.3" } });
      expect(r.status).toBe(400);
      expect(r.json.error).toBe("invalid_request");
      expect(r.json.access_token).toBeUndefined();
    });

    it("requires a supported api-version and accepts newer documented ones", async () => {
      const missing = await call(tokenUrl(emu, `resource=${encodeURIComponent(ARM)}`), { headers: { Metadata: "true" } });
      expect(missing.status).toBe(400);
      expect(missing.json.error).toMatch(/^Bad request\. api-version was not specified in the request/);
      expect(missing.json["newest-versions"]).toEqual(expect.arrayContaining(["2021-12-13"]));
      const tooOld = await call(tokenUrl(emu, `api-version=2017-04-02&resource=${encodeURIComponent(ARM)}`), {
        headers: { Metadata: "true" },
      });
      expect(tooOld.status).toBe(400);
      const newer = await call(tokenUrl(emu, `api-version=2019-08-01&resource=${encodeURIComponent(ARM)}`), {
        headers: { Metadata: "true" },
      });
      expect(newer.status).toBe(200);
    });

    it("serves the token path with a trailing slash, as @azure/msal-node requests it", async () => {
      const r = await call(`${emu.imdsUrl}/metadata/identity/oauth2/token/?api-version=2018-02-01&resource=${encodeURIComponent(ARM)}`, {
        headers: { Metadata: "true" },
      });
      expect(r.status).toBe(200);
      expect(emu.requests[0]).toMatchObject({ endpoint: "imds", path: "/metadata/identity/oauth2/token/" });
      const elsewhere = await call(`${emu.imdsUrl}/metadata/identity/oauth2/tokens?api-version=2018-02-01&resource=x`, {
        headers: { Metadata: "true" },
      });
      expect([elsewhere.status, emu.requests[1].endpoint]).toEqual([404, "other"]);
    });

    it("requires `resource` and rejects duplicated query parameters", async () => {
      const noResource = await call(tokenUrl(emu, "api-version=2018-02-01"), { headers: { Metadata: "true" } });
      expect(noResource.status).toBe(400);
      expect(noResource.json).toEqual({ error: "invalid_request", error_description: "Required query variable 'resource' is missing" });
      const dup = await call(tokenUrl(emu, `api-version=2018-02-01&api-version=2018-02-01&resource=${encodeURIComponent(ARM)}`), {
        headers: { Metadata: "true" },
      });
      expect(dup.status).toBe(400);
    });

    it("answers `Identity not found` without a system-assigned identity or for another identity", async () => {
      const notFound = { error: "invalid_request", error_description: "Identity not found" };
      const h = { headers: { Metadata: "true" } };
      const q = (extra: string) => tokenUrl(emu, `api-version=2018-02-01&resource=${encodeURIComponent(ARM)}${extra}`);
      expect((await call(q(`&client_id=${CLIENT}`), h)).status).toBe(200);
      expect((await call(q(`&object_id=${PRINCIPAL}`), h)).status).toBe(200);
      const other = await call(q("&client_id=99999999-9999-9999-9999-999999999999"), h);
      expect([other.status, other.json]).toEqual([400, notFound]);
      const uami = await call(
        q(
          `&msi_res_id=${encodeURIComponent("/subscriptions/x/resourceGroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z")}`,
        ),
        h,
      );
      expect([uami.status, uami.json]).toEqual([400, notFound]);
      emu.setVmIdentity(null);
      const none = await call(q(""), h);
      expect([none.status, none.json]).toEqual([400, notFound]);
    });
  });

  describe("ARM", () => {
    it("requires api-version (MissingApiVersionParameter) and sends ARM's headers on every answer", async () => {
      const r = await call(`${emu.armUrl}/subscriptions/${SUB}/resourceGroups/rg-a`, bearer(token));
      expect(r.status).toBe(400);
      expect(r.json).toEqual({
        error: {
          code: "MissingApiVersionParameter",
          message: "The api-version query parameter (?api-version=) is required for all requests.",
        },
      });
      const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
      expect(r.headers.get("x-ms-request-id")).toMatch(uuid);
      expect(r.headers.get("x-ms-correlation-request-id")).toMatch(uuid);
      expect(r.headers.get("x-ms-ratelimit-remaining-subscription-reads")).toMatch(/^\d+$/);
      const echoed = await call(rgUrl(emu, "rg-a"), {
        headers: { Authorization: `Bearer ${token}`, "x-ms-correlation-request-id": "0c0c0c0c-0000-0000-0000-000000000000" },
      });
      expect(echoed.headers.get("x-ms-correlation-request-id")).toBe("0c0c0c0c-0000-0000-0000-000000000000");
    });

    it("counts subscription reads down like ARM's token bucket", async () => {
      const a = Number((await call(rgUrl(emu, "rg-a"), bearer(token))).headers.get("x-ms-ratelimit-remaining-subscription-reads"));
      const b = Number((await call(rgUrl(emu, "rg-a"), bearer(token))).headers.get("x-ms-ratelimit-remaining-subscription-reads"));
      expect(a).toBeLessThan(250);
      expect(b).toBeLessThanOrEqual(a);
    });

    it("rejects a missing, malformed or forged token with ARM's 401s", async () => {
      const missing = await call(rgUrl(emu, "rg-a"));
      expect(missing.status).toBe(401);
      expect(missing.json).toEqual({
        error: { code: "AuthenticationFailed", message: "Authentication failed. The 'Authorization' header is missing." },
      });
      expect(missing.headers.get("www-authenticate")).toMatch(
        /^Bearer authorization_uri="https:\/\/login\.windows\.net\/", error="invalid_token"/,
      );

      const basic = await call(rgUrl(emu, "rg-a"), { headers: { Authorization: "Basic dXNlcjpwYXNz" } });
      expect([basic.status, basic.json.error.code]).toEqual([401, "AuthenticationFailed"]);

      const [h, p] = token.split(".");
      const tampered = JSON.parse(Buffer.from(p, "base64url").toString());
      tampered.oid = "99999999-9999-9999-9999-999999999999";
      const forged = `${h}.${Buffer.from(JSON.stringify(tampered)).toString("base64url")}.${token.split(".")[2]}`;
      const bad = await call(rgUrl(emu, "rg-a"), bearer(forged));
      expect(bad.status).toBe(401);
      expect(bad.json).toEqual({ error: { code: "InvalidAuthenticationToken", message: "The access token is invalid." } });

      const other = new AzureEmulator({ tenantId: TENANT, subscriptionId: SUB });
      await other.start();
      try {
        const foreignKey = await call(rgUrl(emu, "rg-a"), bearer(other.mintAccessToken({ principalId: PRINCIPAL })));
        expect([foreignKey.status, foreignKey.json.error.code]).toEqual([401, "InvalidAuthenticationToken"]);
      } finally {
        await other.stop();
      }
    });

    it("rejects a token for another audience (InvalidAuthenticationTokenAudience)", async () => {
      emu.assignRole({ scope: `/subscriptions/${SUB}`, roleDefinitionId: READER_ROLE_ID, principalId: PRINCIPAL });
      const vault = await imdsToken(emu, "https://vault.azure.net");
      const r = await call(rgUrl(emu, "rg-a"), bearer(vault));
      expect(r.status).toBe(401);
      expect(r.json).toEqual({
        error: {
          code: "InvalidAuthenticationTokenAudience",
          message:
            "The access token has been obtained for wrong audience or resource 'https://vault.azure.net'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'.",
        },
      });
      // both spellings of ARM's audience are accepted
      expect((await call(rgUrl(emu, "rg-a"), bearer(await imdsToken(emu, "https://management.azure.com")))).status).toBe(200);
    });

    it("rejects a token from another tenant (InvalidAuthenticationTokenTenant)", async () => {
      const r = await call(rgUrl(emu, "rg-a"), bearer(emu.mintAccessToken({ tenantId: "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb" })));
      expect(r.status).toBe(401);
      expect(r.json.error.code).toBe("InvalidAuthenticationTokenTenant");
      expect(r.json.error.message).toContain(`'https://sts.windows.net/bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb/'`);
    });

    it("rejects an expired token (ExpiredAuthenticationToken) with .NET-formatted UTC times", async () => {
      emu.assignRole({ scope: `/subscriptions/${SUB}`, roleDefinitionId: READER_ROLE_ID, principalId: PRINCIPAL });
      const r = await call(rgUrl(emu, "rg-a"), bearer(emu.mintAccessToken({ lifetimeSeconds: -60 })));
      expect(r.status).toBe(401);
      expect(r.json.error.code).toBe("ExpiredAuthenticationToken");
      expect(r.json.error.message).toMatch(
        /^The access token expiry UTC time '\d{1,2}\/\d{1,2}\/\d{4} \d{1,2}:\d{2}:\d{2} [AP]M' is earlier than current UTC time '\d{1,2}\/\d{1,2}\/\d{4} \d{1,2}:\d{2}:\d{2} [AP]M'\.$/,
      );
      expect(dotnetUtc(new Date(Date.UTC(2017, 7, 17, 22, 54, 41)))).toBe("8/17/2017 10:54:41 PM");
      expect(dotnetUtc(new Date(Date.UTC(2019, 2, 5, 0, 3, 9)))).toBe("3/5/2019 12:03:09 AM");
    });

    it("expires IMDS-issued tokens after tokenLifetimeSeconds", async () => {
      const short = new AzureEmulator({ tenantId: TENANT, subscriptionId: SUB, tokenLifetimeSeconds: 1 });
      await short.start();
      try {
        short.setVmIdentity({ principalId: PRINCIPAL, resourceId: VM_ID });
        short.addResourceGroup({ name: "rg-a", location: "westus" });
        short.assignRole({ scope: `/subscriptions/${SUB}`, roleDefinitionId: READER_ROLE_ID, principalId: PRINCIPAL });
        const r = await call(tokenUrl(short), { headers: { Metadata: "true" } });
        expect(r.json.expires_in).toBe("1");
        const fresh = await call(rgUrl(short, "rg-a"), bearer(r.json.access_token));
        expect(fresh.status).toBe(200);
        await sleep(Number(r.json.expires_on) * 1000 - Date.now() + 50);
        const stale = await call(rgUrl(short, "rg-a"), bearer(r.json.access_token));
        expect([stale.status, stale.json.error.code]).toEqual([401, "ExpiredAuthenticationToken"]);
      } finally {
        await short.stop();
      }
    });

    it("returns the resource group, shaped like ResourceGroups_Get, to a subscription-level Reader", async () => {
      emu.assignRole({ scope: `/subscriptions/${SUB}`, roleDefinitionId: READER_ROLE_ID, principalId: PRINCIPAL });
      const r = await call(rgUrl(emu, "rg-a"), bearer(token));
      expect(r.status).toBe(200);
      expect(r.json).toEqual({
        id: `/subscriptions/${SUB}/resourceGroups/rg-a`,
        name: "rg-a",
        type: "Microsoft.Resources/resourceGroups",
        location: "westus",
        tags: { env: "lab" },
        properties: { provisioningState: "Succeeded" },
      });
      // path segments and names are case-insensitive, as in ARM
      const shouty = await call(
        `${emu.armUrl}/SUBSCRIPTIONS/${SUB.toUpperCase()}/RESOURCEGROUPS/RG-A?api-version=2022-09-01`,
        bearer(token),
      );
      expect([shouty.status, shouty.json.name]).toEqual([200, "rg-a"]);
      const untagged = await call(rgUrl(emu, "rg-b"), bearer(token));
      expect(untagged.json.tags).toBeUndefined();
    });

    it("serves the same over TLS for a client that trusts caCertPath", async () => {
      emu.assignRole({ scope: `/subscriptions/${SUB}`, roleDefinitionId: READER_ROLE_ID, principalId: PRINCIPAL });
      expect(emu.armHttpsUrl).toMatch(/^https:\/\/localhost:\d+$/);
      const body = await new Promise<{ status: number; json: any }>((resolve, reject) => {
        const req = https.get(
          rgUrl(emu, "rg-a", SUB, emu.armHttpsUrl),
          { ca: readFileSync(emu.caCertPath), headers: { Authorization: `Bearer ${token}` } },
          (res) => {
            let data = "";
            res.on("data", (d) => (data += d));
            res.on("end", () => resolve({ status: res.statusCode!, json: JSON.parse(data) }));
          },
        );
        req.on("error", reject);
      });
      expect(body.status).toBe(200);
      expect(body.json.name).toBe("rg-a");
      expect(emu.requests.at(-1)).toMatchObject({ server: "arm-https", endpoint: "resourceGroup", status: 200 });
    });

    it("does not let another resource group's (or principal's) assignment grant the read", async () => {
      emu.assignRole({ scope: `/subscriptions/${SUB}/resourceGroups/rg-b`, roleDefinitionId: READER_ROLE_ID, principalId: PRINCIPAL });
      emu.assignRole({
        scope: `/subscriptions/${SUB}`,
        roleDefinitionId: OWNER_ROLE_ID,
        principalId: "77777777-7777-7777-7777-777777777777",
      });
      const r = await call(rgUrl(emu, "rg-a"), bearer(token));
      expect(r.status).toBe(403);
      expect(r.json).toEqual({
        error: {
          code: "AuthorizationFailed",
          message: `The client '${PRINCIPAL}' with object id '${PRINCIPAL}' does not have authorization to perform action '${RG_READ}' over scope '/subscriptions/${SUB}/resourceGroups/rg-a' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
        },
      });
      expect((await call(rgUrl(emu, "rg-b"), bearer(token))).status).toBe(200);
    });

    it("inherits from '/' and from the resource group itself, on segment boundaries only", async () => {
      const rgPrefix = emu.assignRole({
        scope: `/subscriptions/${SUB}/resourceGroups/rg`,
        roleDefinitionId: READER_ROLE_ID,
        principalId: PRINCIPAL,
      });
      expect((await call(rgUrl(emu, "rg-a"), bearer(token))).status).toBe(403);
      emu.removeRoleAssignment(rgPrefix);
      const own = emu.assignRole({
        scope: `/SUBSCRIPTIONS/${SUB}/resourcegroups/RG-A/`,
        roleDefinitionId: READER_ROLE_ID,
        principalId: PRINCIPAL,
      });
      expect((await call(rgUrl(emu, "rg-a"), bearer(token))).status).toBe(200);
      emu.removeRoleAssignment(own);
      emu.assignRole({ scope: "/", roleDefinitionId: READER_ROLE_ID, principalId: PRINCIPAL });
      expect((await call(rgUrl(emu, "rg-a"), bearer(token))).status).toBe(200);
      expect(scopeCovers("/subscriptions/ab", "/subscriptions/abc/resourceGroups/x")).toBe(false);
      expect(scopeCovers("/subscriptions/ab", "/subscriptions/AB/resourceGroups/x")).toBe(true);
    });

    it("matches actions with wildcards and subtracts the same role's notActions", async () => {
      const grant = async (actions: string[], notActions: string[] = []) => {
        const id = `${Math.floor(Math.random() * 1e8)
          .toString(16)
          .padStart(8, "0")}-0000-4000-8000-000000000000`;
        emu.addRoleDefinition({ id, roleName: `custom-${id}`, actions, notActions });
        const a = emu.assignRole({ scope: `/subscriptions/${SUB}`, roleDefinitionId: id, principalId: PRINCIPAL });
        const status = (await call(rgUrl(emu, "rg-a"), bearer(token))).status;
        emu.removeRoleAssignment(a);
        return status;
      };
      expect(await grant(["*"])).toBe(200);
      expect(await grant(["*/read"])).toBe(200);
      expect(await grant(["Microsoft.Resources/*"])).toBe(200);
      expect(await grant(["microsoft.resources/SUBSCRIPTIONS/resourcegroups/READ"])).toBe(200);
      expect(await grant(["Microsoft.Compute/*/read"])).toBe(403);
      expect(await grant(["Microsoft.Resources/subscriptions/resourceGroups/write"])).toBe(403);
      expect(await grant(["Microsoft.Resources/*"], ["Microsoft.Resources/subscriptions/resourceGroups/*"])).toBe(403);
      expect(await grant(["*"], ["*/read"])).toBe(403);
      for (const builtIn of [
        CONTRIBUTOR_ROLE_ID,
        OWNER_ROLE_ID,
        `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${READER_ROLE_ID}`,
      ]) {
        const a = emu.assignRole({ scope: `/subscriptions/${SUB}`, roleDefinitionId: builtIn, principalId: PRINCIPAL });
        expect((await call(rgUrl(emu, "rg-a"), bearer(token))).status).toBe(200);
        emu.removeRoleAssignment(a);
      }
      expect(actionMatches("Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/write")).toBe(true);
      expect(actionMatches("Microsoft.Resources/*", "Microsoft.ResourcesX/a/read")).toBe(false);
      expect(() =>
        emu.assignRole({ scope: "/", roleDefinitionId: "12345678-0000-0000-0000-000000000000", principalId: PRINCIPAL }),
      ).toThrow(/unknown role definition/);
    });

    it("knows every role of the product's table and keeps data actions apart from actions", async () => {
      expect(BUILT_IN_ROLES.map((r) => [r.id, r.roleName])).toEqual(BUILT_IN_ROLE_DEFINITIONS.map((r) => [r.guid, r.roleName]));
      const blobRead = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read";
      const sbdr = BUILT_IN_ROLES.find((r) => r.id === STORAGE_BLOB_DATA_READER.guid)!;
      expect(roleGrants(sbdr, blobRead, "dataActions")).toBe(true);
      expect(roleGrants(sbdr, blobRead)).toBe(false);
      expect(roleGrants(sbdr, "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write", "dataActions")).toBe(false);
      const custom = {
        id: "x",
        roleName: "x",
        actions: [],
        notActions: [],
        dataActions: ["Microsoft.Storage/*"],
        notDataActions: ["*/write"],
      };
      expect(roleGrants(custom, blobRead, "dataActions")).toBe(true);
      expect(roleGrants(custom, "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write", "dataActions")).toBe(false);
      // A data role alone does not let the identity read its resource group, and its permissions say why.
      emu.assignRole({ scope: `/subscriptions/${SUB}`, roleDefinitionId: STORAGE_BLOB_DATA_READER.guid, principalId: PRINCIPAL });
      expect((await call(rgUrl(emu, "rg-a"), bearer(token))).status).toBe(403);
      expect((await call(permUrl(emu, "rg-a"), bearer(token))).json).toEqual({
        value: [
          {
            actions: [...STORAGE_BLOB_DATA_READER.actions],
            notActions: [],
            dataActions: [...STORAGE_BLOB_DATA_READER.dataActions],
            notDataActions: [],
          },
        ],
      });
    });

    it("answers 404 ResourceGroupNotFound / SubscriptionNotFound to an authorized caller", async () => {
      emu.assignRole({ scope: `/subscriptions/${SUB}`, roleDefinitionId: READER_ROLE_ID, principalId: PRINCIPAL });
      const r = await call(rgUrl(emu, "rg-nope"), bearer(token));
      expect(r.status).toBe(404);
      expect(r.json).toEqual({ error: { code: "ResourceGroupNotFound", message: "Resource group 'rg-nope' could not be found." } });
      const unknownSub = "99999999-0000-0000-0000-000000000000";
      const s = await call(rgUrl(emu, "rg-a", unknownSub), bearer(token));
      expect(s.status).toBe(404);
      expect(s.json).toEqual({ error: { code: "SubscriptionNotFound", message: `The subscription '${unknownSub}' could not be found.` } });
      emu.removeResourceGroup("rg-b");
      expect((await call(rgUrl(emu, "rg-b"), bearer(token))).status).toBe(404);
      emu.addResourceGroup({ name: "rg-b", location: "eastus" });
    });

    it("honours an assignment only once effectiveAfterMs has passed", async () => {
      const before = Date.now();
      const id = emu.assignRole({
        scope: `/subscriptions/${SUB}`,
        roleDefinitionId: READER_ROLE_ID,
        principalId: PRINCIPAL,
        effectiveAfterMs: 600,
        name: "delayed",
      });
      expect(id).toBe(`/subscriptions/${SUB}/providers/Microsoft.Authorization/roleAssignments/delayed`);
      const listed = emu.listRoleAssignments();
      expect(listed).toEqual([
        {
          id,
          name: "delayed",
          scope: `/subscriptions/${SUB}`,
          roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${READER_ROLE_ID}`,
          principalId: PRINCIPAL,
          effectiveAt: expect.any(Number),
        },
      ]);
      expect(listed[0].effectiveAt).toBeGreaterThanOrEqual(before + 600);
      const early = await call(rgUrl(emu, "rg-a"), bearer(token));
      expect([early.status, early.json.error.code]).toEqual([403, "AuthorizationFailed"]);
      const earlyPerms = await call(permUrl(emu, "rg-a"), bearer(token));
      expect(earlyPerms.json).toEqual({ value: [] });
      await sleep(listed[0].effectiveAt - Date.now() + 20);
      expect((await call(rgUrl(emu, "rg-a"), bearer(token))).status).toBe(200);
      emu.removeRoleAssignment("delayed");
      expect(emu.listRoleAssignments()).toEqual([]);
    });

    it("lists the caller's effective permissions at the resource group (Permissions_ListForResourceGroup)", async () => {
      emu.assignRole({ scope: `/subscriptions/${SUB}`, roleDefinitionId: READER_ROLE_ID, principalId: PRINCIPAL });
      emu.assignRole({ scope: `/subscriptions/${SUB}/resourceGroups/rg-a`, roleDefinitionId: CONTRIBUTOR_ROLE_ID, principalId: PRINCIPAL });
      emu.assignRole({ scope: `/subscriptions/${SUB}/resourceGroups/rg-b`, roleDefinitionId: OWNER_ROLE_ID, principalId: PRINCIPAL });
      emu.assignRole({
        scope: `/subscriptions/${SUB}`,
        roleDefinitionId: OWNER_ROLE_ID,
        principalId: "77777777-7777-7777-7777-777777777777",
      });
      const r = await call(permUrl(emu, "rg-a"), bearer(token));
      expect(r.status).toBe(200);
      expect(r.json.value).toHaveLength(2);
      expect(r.json.value).toContainEqual({ actions: ["*/read"], notActions: [], dataActions: [], notDataActions: [] });
      const contributor = r.json.value.find((p: { actions: string[] }) => p.actions[0] === "*");
      expect(contributor.notActions).toContain("Microsoft.Authorization/*/Write");
      const missingRg = await call(permUrl(emu, "rg-zzz"), bearer(token));
      expect([missingRg.status, missingRg.json.error.code]).toEqual([404, "ResourceGroupNotFound"]);
      const unauth = await call(permUrl(emu, "rg-a"));
      expect(unauth.status).toBe(401);
    });
  });

  describe("Entra ID and tags", () => {
    it("a resource the tenant does not know gets AADSTS500011 in IMDS's 400, as for another cloud's ARM", async () => {
      emu.setTokenResources(["https://management.usgovcloudapi.net/"]);
      try {
        const r = await call(tokenUrl(emu), { headers: { Metadata: "true" } });
        expect(r.status).toBe(400);
        expect(r.json.error).toBe("invalid_resource");
        expect(r.json.error_description).toMatch(
          /^AADSTS500011: The resource principal named https:\/\/management\.azure\.com\/ was not found in the tenant named/,
        );
        expect(await imdsToken(emu, "https://management.usgovcloudapi.net/")).toMatch(/^eyJ/);
      } finally {
        emu.setTokenResources(null);
      }
      expect((await call(tokenUrl(emu), { headers: { Metadata: "true" } })).status).toBe(200);
    });

    it("tag names that differ only in case are one tag: ARM never returns both", async () => {
      emu.assignRole({ scope: `/subscriptions/${SUB}`, roleDefinitionId: READER_ROLE_ID, principalId: PRINCIPAL });
      emu.addResourceGroup({ name: "rg-tags", location: "westus", tags: { Env: "a", env: "b", Owner: "x" } });
      try {
        const r = await call(rgUrl(emu, "rg-tags"), bearer(token));
        expect(r.json.tags).toEqual({ Env: "b", Owner: "x" });
        expect(r.text).not.toMatch(/"env"/);
      } finally {
        emu.removeResourceGroup("rg-tags");
      }
    });
  });

  describe("faults", () => {
    beforeEach(() => {
      emu.assignRole({ scope: `/subscriptions/${SUB}`, roleDefinitionId: READER_ROLE_ID, principalId: PRINCIPAL });
    });

    it("status: Azure-shaped bodies per endpoint, consumed FIFO, then normal answers", async () => {
      emu.injectFaults("imds", { status: 503 }, { status: 500 });
      emu.injectFaults("resourceGroup", { status: 429 }, { status: 503, headers: { "Retry-After": "7" } });
      expect(emu.pendingFaults("imds")).toBe(2);
      const i1 = await call(tokenUrl(emu), { headers: { Metadata: "true" } });
      expect(i1.status).toBe(503);
      expect(Object.keys(i1.json).sort()).toEqual(["error", "error_description"]);
      const i2 = await call(tokenUrl(emu), { headers: { Metadata: "true" } });
      expect([i2.status, i2.json.error]).toEqual([500, "unknown"]);
      expect((await call(tokenUrl(emu), { headers: { Metadata: "true" } })).status).toBe(200);

      const a1 = await call(rgUrl(emu, "rg-a"), bearer(token));
      expect(a1.status).toBe(429);
      expect(a1.headers.get("retry-after")).toBe("1");
      expect(a1.headers.get("x-ms-request-id")).toBeTruthy();
      expect(a1.json.error.code).toBe("SubscriptionRequestsThrottled");
      expect(a1.json.error.message).toBe(
        `Number of 'read' requests for subscription '${SUB}' actor '${PRINCIPAL}' exceeded. Please try again after '1' seconds after the last request.`,
      );
      const a2 = await call(rgUrl(emu, "rg-a"), bearer(token));
      expect([a2.status, a2.headers.get("retry-after"), a2.json.error.code]).toEqual([503, "7", "ServiceUnavailable"]);
      expect((await call(rgUrl(emu, "rg-a"), bearer(token))).status).toBe(200);
      expect(emu.requests.map((r) => [r.endpoint, r.status, r.faulted])).toEqual([
        ["imds", 503, true],
        ["imds", 500, true],
        ["imds", 200, false],
        ["resourceGroup", 429, true],
        ["resourceGroup", 503, true],
        ["resourceGroup", 200, false],
      ]);
    });

    it("faults are per endpoint", async () => {
      emu.injectFaults("permissions", { status: 500 });
      expect((await call(rgUrl(emu, "rg-a"), bearer(token))).status).toBe(200);
      expect((await call(tokenUrl(emu), { headers: { Metadata: "true" } })).status).toBe(200);
      const p = await call(permUrl(emu, "rg-a"), bearer(token));
      expect([p.status, p.json.error.code]).toEqual([500, "InternalServerError"]);
      expect((await call(permUrl(emu, "rg-a"), bearer(token))).status).toBe(200);
    });

    it("endless: a 200 whose body never ends, as fast as it is read", async () => {
      emu.injectFaults("resourceGroup", { endless: true });
      const res = await fetch(rgUrl(emu, "rg-a"), bearer(token));
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      let bytes = 0;
      while (bytes < 3 * 1024 * 1024) bytes += (await reader.read()).value!.length;
      await reader.cancel();
      expect(emu.requests[0]).toMatchObject({ status: 200, fault: "endless" });
    });

    it("trickle: a 200 whose body arrives a byte at a time and never completes", async () => {
      emu.injectFaults("permissions", { trickle: true, delayMs: 20 });
      const res = await fetch(permUrl(emu, "rg-a"), bearer(token));
      const reader = res.body!.getReader();
      let text = "";
      const t0 = Date.now();
      while (Date.now() - t0 < 300) text += Buffer.from((await reader.read()).value!).toString();
      await reader.cancel();
      expect(text.startsWith('{"value":"a')).toBe(true);
      expect(text.length).toBeLessThan(40);
      expect(emu.requests[0]).toMatchObject({ status: 200, fault: "trickle" });
    });

    it("cut: a 200 whose connection closes halfway through the body its Content-Length announced", async () => {
      emu.injectFaults("resourceGroup", { cut: true });
      const res = await fetch(rgUrl(emu, "rg-a"), bearer(token));
      expect(res.status).toBe(200);
      const announced = Number(res.headers.get("content-length"));
      const reader = res.body!.getReader();
      let bytes = 0;
      await expect(
        (async () => {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) return;
            bytes += value.length;
          }
        })(),
      ).rejects.toThrow();
      expect(bytes).toBeGreaterThan(0);
      expect(bytes).toBeLessThan(announced);
      expect(emu.requests[0]).toMatchObject({ status: 200, fault: "cut" });
    });

    it("body: raw text instead of the default body", async () => {
      emu.injectFaults("resourceGroup", { status: 502, body: "<html>bad gateway</html>", headers: { "Content-Type": "text/html" } });
      const r = await call(rgUrl(emu, "rg-a"), bearer(token));
      expect([r.status, r.text, r.headers.get("content-type")]).toEqual([502, "<html>bad gateway</html>", "text/html"]);
    });

    it("delayMs alone: the normal answer, late", async () => {
      emu.injectFaults("resourceGroup", { delayMs: 300 });
      const t0 = Date.now();
      const r = await call(rgUrl(emu, "rg-a"), bearer(token));
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
      expect([r.status, r.json.name]).toEqual([200, "rg-a"]);
      expect(emu.requests[0]).toMatchObject({ faulted: true, fault: "delay", status: 200 });
    });

    it("delayMs with status: the error, late", async () => {
      emu.injectFaults("imds", { delayMs: 200, status: 429 });
      const t0 = Date.now();
      const r = await call(tokenUrl(emu), { headers: { Metadata: "true" } });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
      expect(r.status).toBe(429);
    });

    it("reset: the connection drops without a response", async () => {
      emu.injectFaults("imds", { reset: true });
      await expect(call(tokenUrl(emu), { headers: { Metadata: "true" } })).rejects.toThrow();
      expect(emu.requests[0]).toMatchObject({ endpoint: "imds", status: null, faulted: true, fault: "reset" });
      expect((await call(tokenUrl(emu), { headers: { Metadata: "true" } })).status).toBe(200);
    });

    it("malformed: 200 with JSON that does not parse", async () => {
      emu.injectFaults("imds", { malformed: true });
      emu.injectFaults("resourceGroup", { malformed: true });
      emu.injectFaults("permissions", { malformed: true });
      for (const url of [tokenUrl(emu), rgUrl(emu, "rg-a"), permUrl(emu, "rg-a")]) {
        const r = await call(url, { headers: { Metadata: "true", Authorization: `Bearer ${token}` } });
        expect(r.status).toBe(200);
        expect(() => JSON.parse(r.text)).toThrow(SyntaxError);
      }
    });

    it("hang: no answer until the client gives up, or until stop()", async () => {
      emu.injectFaults("resourceGroup", { hang: true });
      await expect(call(rgUrl(emu, "rg-a"), { ...bearer(token), signal: AbortSignal.timeout(300) })).rejects.toThrow();
      expect(emu.requests[0]).toMatchObject({ status: null, fault: "hang" });

      const own = new AzureEmulator();
      await own.start();
      own.injectFaults("imds", { hang: true });
      const pending = call(tokenUrl(own), { headers: { Metadata: "true" }, signal: AbortSignal.timeout(10_000) });
      await sleep(100);
      const t0 = Date.now();
      await own.stop();
      await expect(pending).rejects.toThrow();
      expect(Date.now() - t0).toBeLessThan(2000);
    });
  });

  describe("request recording", () => {
    it("records endpoint, method, path, query, status and time — never the token", async () => {
      emu.assignRole({ scope: `/subscriptions/${SUB}`, roleDefinitionId: READER_ROLE_ID, principalId: PRINCIPAL });
      await call(tokenUrl(emu), { headers: { Metadata: "true" } });
      await call(rgUrl(emu, "rg-a"), bearer(token));
      await call(permUrl(emu, "rg-a"), bearer(token));
      await call(`${emu.armUrl}/subscriptions/${SUB}/resourceGroups?api-version=2022-09-01`, bearer(token));
      await call(`${emu.imdsUrl}/metadata/instance?api-version=2021-02-01`, { headers: { Metadata: "true" } });
      const r = emu.requests;
      expect(r.map((x) => [x.endpoint, x.server, x.method, x.status])).toEqual([
        ["imds", "imds", "GET", 200],
        ["resourceGroup", "arm-http", "GET", 200],
        ["permissions", "arm-http", "GET", 200],
        ["other", "arm-http", "GET", 404],
        ["other", "imds", "GET", 404],
      ]);
      expect(r[0].path).toBe("/metadata/identity/oauth2/token");
      expect(r[0].query).toEqual({ "api-version": "2018-02-01", resource: ARM });
      expect(r[1]).toMatchObject({
        path: `/subscriptions/${SUB}/resourceGroups/rg-a`,
        query: { "api-version": "2022-09-01" },
        callerObjectId: PRINCIPAL,
      });
      for (let i = 1; i < r.length; i++) expect(r[i].atMs).toBeGreaterThanOrEqual(r[i - 1].atMs);
      const dump = JSON.stringify(r);
      expect(dump).not.toContain(token.split(".")[2]);
      expect(dump).not.toMatch(/Bearer|eyJ/);
      emu.clearRequests();
      expect(emu.requests).toHaveLength(0);
    });
  });

  it("fails (does not skip) when the openssl CLI is missing, every time", async () => {
    for (let i = 0; i < 2; i++) {
      const broken = new AzureEmulator({ openssl: "/nonexistent-dir-for-this-test/openssl" });
      try {
        await expect(broken.start()).rejects.toThrow(/needs the `openssl` CLI/);
      } finally {
        await broken.stop();
      }
    }
  });

  it("emulators of one process share one TLS certificate, which outlives stop()", async () => {
    const second = new AzureEmulator();
    await second.start();
    try {
      expect(second.caCertPath).toBe(emu.caCertPath);
    } finally {
      await second.stop();
    }
    expect(readFileSync(emu.caCertPath, "utf8")).toMatch(/BEGIN CERTIFICATE/);
  });

  it("refuses to hand out URLs before start()", () => {
    const idle = new AzureEmulator();
    expect(() => idle.imdsUrl).toThrow(/not started/);
    expect(() => idle.caCertPath).toThrow(/not started/);
    expect(idle.vmIdentity?.resourceId).toMatch(/\/providers\/Microsoft\.Compute\/virtualMachines\//);
  });
});
