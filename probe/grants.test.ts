/** Grants mode's pure side: specs, api-versions, and the judge's verdicts (no mocks). */
import {
  armTypeOf,
  buildGrantSpecs,
  foldVerdicts,
  judgeGrant,
  judgeGrants,
  MAX_GRANTS_PER_SETUP,
  READ_API_VERSIONS,
  readApiVersionFor,
  readGrantsOutcome,
  scopeCovers,
  type GrantContext,
  type GrantIntent,
} from "./grants";
import type { GrantReport, ProbeOutcome, ProbeReport } from "./report";
import { DEFAULT_SETUPS, type SetupSettings } from "../settings/schema";
import { checkSetups } from "../settings/setups";
import { namer } from "../settings/rules";

const SUB = "/subscriptions/11111111-2222-3333-4444-555555555555";
const RG = `${SUB}/resourceGroups/lab-rg`;
const ACCOUNT = `${RG}/providers/Microsoft.Storage/storageAccounts/idlabst1`;
const SYSTEM = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const USER = "12345678-0000-4000-8000-00000000000a";
const ctx: GrantContext = {
  subscriptionId: SUB.split("/")[2],
  resourceGroupId: RG,
  storageAccountId: ACCOUNT,
  storageAccountName: "idlabst1",
  containerName: "probe",
  cloud: "public",
  userAssignedClientId: "client-1",
};
const setupOf = (setups: unknown): SetupSettings => {
  const { problems, setups: parsed } = checkSetups(JSON.stringify(setups), namer());
  expect(problems).toEqual([]);
  return parsed[0];
};

const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const BLOB_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1";
const intent = (over: Partial<GrantIntent> = {}): GrantIntent => ({
  n: "g0",
  role: "Reader",
  roleDefinitionGuid: READER,
  scope: RG,
  identity: "systemAssigned",
  principalId: SYSTEM,
  blob: false,
  ...over,
});
const report = (over: Partial<GrantReport> = {}): GrantReport => ({
  n: "g0",
  oid: SYSTEM,
  read: 200,
  data: null,
  perm: [[["*/read"], [], [], []]],
  cause: null,
  att: 2,
  ...over,
});

describe("constants and ARM ids", () => {
  test("MAX_GRANTS_PER_SETUP is one exported number, and the settings enforce it", () => {
    expect(MAX_GRANTS_PER_SETUP).toBe(3);
    expect(
      checkSetups(JSON.stringify([{ grants: ["Reader", "Contributor", "Owner", "Monitoring Reader"].map((role) => ({ role })) }]), namer())
        .problems,
    ).toHaveLength(1);
  });

  test.each([
    [SUB, "subscription"],
    [RG, "resourcegroup"],
    [ACCOUNT, "microsoft.storage/storageaccounts"],
    [`${ACCOUNT}/blobServices/default/containers/probe`, "microsoft.storage/storageaccounts/blobservices/containers"],
    [`${RG}/providers/Microsoft.KeyVault/vaults/kv`, "microsoft.keyvault/vaults"],
    [`${RG}/providers/Microsoft.KeyVault`, undefined],
    ["/providers/Microsoft.Management/managementGroups/mg", undefined],
  ])("armTypeOf(%s) = %s", (id, type) => {
    expect(armTypeOf(id)).toBe(type);
  });

  test("every type in the table has a dated api-version, and lookups ignore case", () => {
    for (const v of Object.values(READ_API_VERSIONS)) expect(v).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(readApiVersionFor(ACCOUNT.toUpperCase().replace("/SUBSCRIPTIONS/", "/subscriptions/"))).toBe("2024-01-01");
    expect(readApiVersionFor(`${RG}/providers/Microsoft.Web/sites/app`)).toBeUndefined();
  });

  test("scopeCovers: the same scope or an ancestor, on whole segments", () => {
    expect(scopeCovers(SUB, ACCOUNT)).toBe(true);
    expect(scopeCovers(RG.toUpperCase(), RG)).toBe(true);
    expect(scopeCovers(ACCOUNT, RG)).toBe(false);
    expect(scopeCovers(`${RG}`, `${RG}2`)).toBe(false);
  });
});

describe("buildGrantSpecs", () => {
  test("the tutorial's shape is tutorial mode: no specs", () => {
    expect(buildGrantSpecs(DEFAULT_SETUPS[0], ctx, true)).toEqual([]);
  });

  test("each grant: its scope id, the identity's client id, blob proof for a blob data role, api-version", () => {
    const setup = setupOf([
      {
        identity: "both",
        grants: [
          { role: "Storage Blob Data Reader", scope: "storageAccount", identity: "userAssigned" },
          { role: "Reader", scope: "subscription", identity: "systemAssigned" },
          { role: "Storage Blob Data Contributor", scope: `${ACCOUNT}/blobServices/default/containers/data`, identity: "systemAssigned" },
        ],
      },
    ]);
    expect(buildGrantSpecs(setup, ctx, false)).toEqual([
      { n: "g0", s: ACCOUNT, u: "client-1", k: "blob", v: "2024-01-01", b: "https://idlabst1.blob.core.windows.net/probe" },
      { n: "g1", s: SUB, u: "", k: "arm", v: "2022-12-01", b: "" },
      {
        n: "g2",
        s: `${ACCOUNT}/blobServices/default/containers/data`,
        u: "",
        k: "blob",
        v: "2024-01-01",
        b: "https://idlabst1.blob.core.windows.net/data",
      },
    ]);
  });

  test("a grant's own apiVersion wins; a control-plane role on the storage account is an ARM proof; other clouds' blob suffix", () => {
    const setup = setupOf([
      {
        grants: [
          { role: "Reader", scope: "storageAccount" },
          { role: "Reader", scope: `${RG}/providers/Microsoft.Web/sites/app`, apiVersion: "2023-12-01" },
          { role: "Storage Blob Data Owner", scope: "storageAccount" },
        ],
      },
    ]);
    const specs = buildGrantSpecs(setup, { ...ctx, cloud: "china" }, false);
    expect(specs.map((s) => [s.k, s.v, s.b])).toEqual([
      ["arm", "2024-01-01", ""],
      ["arm", "2023-12-01", ""],
      ["blob", "2024-01-01", "https://idlabst1.blob.core.chinacloudapi.cn/probe"],
    ]);
  });
});

describe("the judge", () => {
  test("proven: evidence, the intended identity's token, exactly the role", () => {
    expect(judgeGrant(intent(), report(), [intent()])).toEqual({
      n: "g0",
      role: "Reader",
      scope: RG,
      identity: "systemAssigned",
      verdict: "proven",
      missing: [],
      extra: [],
      problem: null,
    });
  });

  test.each<[string, GrantReport | undefined, Partial<GrantIntent>, RegExp]>([
    ["no entry for the grant", undefined, {}, /reported nothing for this grant/],
    ["a cause", report({ cause: "AuthorizationFailed", read: 403, perm: null }), {}, /^no evidence: AuthorizationFailed \(read 403\)$/],
    ["no token", report({ oid: null }), {}, /got no token/],
    [
      "another identity's token",
      report({ oid: USER }),
      {},
      new RegExp(`token is for object id ${USER}, not the intended systemAssigned identity ${SYSTEM}`),
    ],
    ["a failed read", report({ read: 404 }), {}, /ARM read of the scope answered 404/],
    ["a blob proof without List Blobs", report({ data: 403 }), { blob: true }, /List Blobs on the container answered 403/],
    ["malformed permissions", report({ perm: [[["*/read"], [], []]] as never }), {}, /no well-formed effective permissions/],
    [
      "permissions short of the role",
      report({ perm: [[["Microsoft.Storage/storageAccounts/blobServices/containers/read"], [], [], []]] }),
      { role: "Storage Blob Data Reader", roleDefinitionGuid: BLOB_READER, scope: ACCOUNT },
      /lacks .*generateUserDelegationKey\/action, Microsoft.Storage\/storageAccounts\/blobServices\/containers\/blobs\/read of Storage Blob Data Reader/,
    ],
  ])("missing: %s", (_, r, over, problem) => {
    const i = intent(over);
    const v = judgeGrant(i, r, [i]);
    expect(v.verdict).toBe("missing");
    expect(v.problem).toMatch(problem);
  });

  test("over-privileged: an inherited Contributor beyond Reader, with the extra pattern", () => {
    const v = judgeGrant(intent(), report({ perm: [[["*"], ["Microsoft.Authorization/*/Write"], [], []]] }), [intent()]);
    expect(v).toMatchObject({
      verdict: "overPrivileged",
      extra: ["*"],
      problem: expect.stringMatching(/more than Reader at this scope: \*/),
    });
  });

  test("the identity's intended roles covering the scope are one union: Reader on the group plus a blob role on its account", () => {
    const blob = intent({ n: "g1", role: "Storage Blob Data Reader", roleDefinitionGuid: BLOB_READER, scope: ACCOUNT, blob: true });
    const rg = intent();
    const effective = report({
      n: "g1",
      data: 200,
      perm: [
        [["*/read"], [], [], []],
        [
          [
            "Microsoft.Storage/storageAccounts/blobServices/containers/read",
            "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
          ],
          [],
          ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"],
          [],
        ],
      ],
    });
    expect(judgeGrant(blob, effective, [rg, blob]).verdict).toBe("proven");
    // The same evidence with the Reader meant for another identity: the blob identity holds more than it was given.
    expect(judgeGrant(blob, effective, [{ ...rg, identity: "userAssigned", principalId: USER }, blob]).verdict).toBe("overPrivileged");
    // A role on a narrower scope does not cover a wider one.
    expect(judgeGrant(rg, report({ perm: effective.perm }), [rg, blob]).verdict).toBe("overPrivileged");
  });

  test("at subscription scope the reported blocks are the identity's assignments anywhere: all its intended roles count", () => {
    const sub = intent({ scope: SUB });
    const blob = intent({ n: "g1", role: "Storage Blob Data Reader", roleDefinitionGuid: BLOB_READER, scope: ACCOUNT, blob: true });
    const blocks = report({
      perm: [
        [["*/read"], [], [], []],
        [[], [], ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"], []],
      ],
    });
    expect(judgeGrant(sub, blocks, [sub, blob]).verdict).toBe("proven");
    expect(judgeGrant(sub, blocks, [sub]).verdict).toBe("overPrivileged");
  });

  test("a custom role (a GUID the table lacks) is proven by its evidence; nothing can be compared", () => {
    const custom = intent({ role: "0b1c2d3e-0000-4000-8000-000000000001", roleDefinitionGuid: "0b1c2d3e-0000-4000-8000-000000000001" });
    expect(judgeGrant(custom, report({ perm: [[["*"], [], [], []]] }), [custom]).verdict).toBe("proven");
  });

  test("judgeGrants matches reports by key, in intent order", () => {
    const a = intent();
    const b = intent({ n: "g1", identity: "userAssigned", principalId: USER });
    expect(judgeGrants([a, b], [report({ n: "g1", oid: USER }), report()]).map((v) => [v.n, v.verdict])).toEqual([
      ["g0", "proven"],
      ["g1", "proven"],
    ]);
  });
});

describe("folding verdicts into the outcome", () => {
  const succeeded: ProbeOutcome = { status: "succeeded", report: {} as ProbeReport };
  const over = judgeGrant(intent(), report({ perm: [[["*"], [], [], []]] }), [intent()]);
  const missing = judgeGrant(intent(), report({ oid: null }), [intent()]);
  const proven = judgeGrant(intent(), report(), [intent()]);

  test("proven: the outcome as it was, no warning", () => {
    expect(foldVerdicts(succeeded, [proven], true)).toEqual({ outcome: succeeded, verdicts: [proven], warning: null });
  });
  test("over-privileged: a warning by default, a failure with failOnOverPrivilege", () => {
    expect(foldVerdicts(succeeded, [over], false)).toMatchObject({
      outcome: succeeded,
      warning: expect.stringMatching(/^Over-privileged: g0 .*failOnOverPrivilege/),
    });
    expect(foldVerdicts(succeeded, [over], true)).toMatchObject({
      outcome: {
        status: "failed",
        cause: expect.stringMatching(/^Over-privileged: g0/),
        nextStep: expect.stringMatching(/failOnOverPrivilege to false/),
      },
      warning: null,
    });
  });
  test("missing: a failure whatever failOnOverPrivilege says", () => {
    expect(foldVerdicts(succeeded, [missing, over], false)).toMatchObject({
      outcome: { status: "failed", cause: expect.stringMatching(/^Not every grant is proven: g0/) },
      warning: expect.stringMatching(/^Over-privileged/),
    });
  });
  test("an outcome that already failed or is unreadable stays as it is", () => {
    const unreadable: ProbeOutcome = { status: "unreadable", report: null, cause: "x", nextStep: "y" };
    expect(foldVerdicts(unreadable, [missing], true).outcome).toBe(unreadable);
  });
});

describe("readGrantsOutcome", () => {
  const view = (stdout: string) => ({ substatuses: [{ code: "ComponentStatus/StdOut/succeeded", message: stdout }] });
  const grantsReport = (grants: GrantReport[], ok = true) =>
    JSON.stringify({
      schema: "identitylab.probe/v1",
      ok,
      resourceGroup: null,
      identity: null,
      permissions: null,
      attempts: { imds: 1, resourceGroup: 0, permissions: 0 },
      elapsedSeconds: 3,
      trimmed: [],
      error: null,
      grants,
    });

  test("a grants report: judged per grant", () => {
    const judged = readGrantsOutcome(view(grantsReport([report()])), [intent()], false);
    expect(judged.outcome.status).toBe("succeeded");
    expect(judged.verdicts.map((v) => v.verdict)).toEqual(["proven"]);
  });
  test("no output, a tutorial-mode report, or an ok that contradicts the evidence", () => {
    expect(readGrantsOutcome(undefined, [intent()], false).outcome).toMatchObject({
      status: "unreadable",
      cause: expect.stringMatching(/no StdOut/),
    });
    expect(
      readGrantsOutcome(
        view(JSON.stringify({ schema: "identitylab.probe/v1", ok: false, attempts: {}, elapsedSeconds: 1, error: { phase: "imds" } })),
        [intent()],
        false,
      ).outcome,
    ).toMatchObject({
      status: "unreadable",
      cause: expect.stringMatching(/tutorial mode/),
    });
    expect(readGrantsOutcome(view(grantsReport([report()], false)), [intent()], false).outcome).toMatchObject({
      status: "failed",
      cause: expect.stringMatching(/reports not ok although/),
    });
  });
});
