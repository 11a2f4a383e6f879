import { v5 as uuidv5 } from "uuid";
import { distance } from "../settings/text";

/**
 * One permission block of a role definition, as ARM returns it in a role definition's
 * `permissions` and in `Microsoft.Authorization/permissions` (a principal's effective
 * permissions). `actions` are control-plane operations, `dataActions` data-plane ones;
 * the two are separate namespaces, and a block's `notActions` / `notDataActions`
 * subtract only from that same block (https://learn.microsoft.com/en-us/azure/role-based-access-control/role-definitions).
 */
export interface PermissionBlock {
  readonly actions: readonly string[];
  readonly notActions: readonly string[];
  readonly dataActions: readonly string[];
  readonly notDataActions: readonly string[];
}

/** A built-in role definition: every built-in role Microsoft publishes has exactly one permission block. */
export interface RoleDefinition extends PermissionBlock {
  /** The role definition's `name`: a GUID, the same in every Azure cloud. */
  readonly guid: string;
  readonly roleName: string;
}

/** The table is shared by every caller (the program, the comparison, the emulator): nobody may edit it in place. */
function builtIn(r: RoleDefinition): RoleDefinition {
  for (const list of [r.actions, r.notActions, r.dataActions, r.notDataActions]) Object.freeze(list);
  return Object.freeze(r);
}

/*
 * Built-in role definitions, transcribed from the JSON blocks of MicrosoftDocs/azure-docs,
 * articles/role-based-access-control/built-in-roles/:
 *   general.md    @ c5bb127f0b669394248dfbdeba9819070aca3318  Reader
 *   privileged.md @ cc5826fc14c05ba5629d10bbc9a7d00c9a42e0ea  Contributor, Owner, User Access Administrator,
 *                                                              Role Based Access Control Administrator
 *   storage.md    @ 9f00316210565693b99eaf70023cd7fe6bb75a71  Storage Blob Data Reader / Contributor / Owner
 *   security.md   @ 9772bfe3ed75f1e87098b298f2efbd4ef84f6f74  Key Vault Secrets User / Secrets Officer / Reader
 *   monitor.md    @ 7dba97614cc6ed5d5363e1a2881379775becbdb6  Monitoring Reader
 * roles.published.json holds the same JSON with its source per role, and roles.test.ts
 * compares the two entry by entry: to update a role, update both from the docs.
 * Contributor comes from privileged.md (2025): the older general.md above lists only its
 * first eight notActions.
 */

export const READER = builtIn({
  guid: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
  roleName: "Reader",
  actions: ["*/read"],
  notActions: [],
  dataActions: [],
  notDataActions: [],
});

export const CONTRIBUTOR = builtIn({
  guid: "b24988ac-6180-42a0-ab88-20f7382dd24c",
  roleName: "Contributor",
  actions: ["*"],
  notActions: [
    "Microsoft.Authorization/*/Delete",
    "Microsoft.Authorization/*/Write",
    "Microsoft.Authorization/elevateAccess/Action",
    "Microsoft.Blueprint/blueprintAssignments/write",
    "Microsoft.Blueprint/blueprintAssignments/delete",
    "Microsoft.Compute/galleries/share/action",
    "Microsoft.Purview/consents/write",
    "Microsoft.Purview/consents/delete",
    "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
    "Microsoft.Subscription/cancel/action",
    "Microsoft.Subscription/enable/action",
  ],
  dataActions: [],
  notDataActions: [],
});

export const OWNER = builtIn({
  guid: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
  roleName: "Owner",
  actions: ["*"],
  notActions: [],
  dataActions: [],
  notDataActions: [],
});

export const USER_ACCESS_ADMINISTRATOR = builtIn({
  guid: "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
  roleName: "User Access Administrator",
  actions: ["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"],
  notActions: [],
  dataActions: [],
  notDataActions: [],
});

export const ROLE_BASED_ACCESS_CONTROL_ADMINISTRATOR = builtIn({
  guid: "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
  roleName: "Role Based Access Control Administrator",
  actions: [
    "Microsoft.Authorization/roleAssignments/write",
    "Microsoft.Authorization/roleAssignments/delete",
    "*/read",
    "Microsoft.Support/*",
  ],
  notActions: [],
  dataActions: [],
  notDataActions: [],
});

export const STORAGE_BLOB_DATA_READER = builtIn({
  guid: "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
  roleName: "Storage Blob Data Reader",
  actions: [
    "Microsoft.Storage/storageAccounts/blobServices/containers/read",
    "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
  ],
  notActions: [],
  dataActions: ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"],
  notDataActions: [],
});

export const STORAGE_BLOB_DATA_CONTRIBUTOR = builtIn({
  guid: "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
  roleName: "Storage Blob Data Contributor",
  actions: [
    "Microsoft.Storage/storageAccounts/blobServices/containers/delete",
    "Microsoft.Storage/storageAccounts/blobServices/containers/read",
    "Microsoft.Storage/storageAccounts/blobServices/containers/write",
    "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
  ],
  notActions: [],
  dataActions: [
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action",
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
  ],
  notDataActions: [],
});

export const STORAGE_BLOB_DATA_OWNER = builtIn({
  guid: "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
  roleName: "Storage Blob Data Owner",
  actions: [
    "Microsoft.Storage/storageAccounts/blobServices/containers/*",
    "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
  ],
  notActions: [],
  dataActions: ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*"],
  notDataActions: [],
});

export const KEY_VAULT_SECRETS_USER = builtIn({
  guid: "4633458b-17de-408a-b874-0445c86b69e6",
  roleName: "Key Vault Secrets User",
  actions: [],
  notActions: [],
  dataActions: ["Microsoft.KeyVault/vaults/secrets/getSecret/action", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"],
  notDataActions: [],
});

/** The control-plane part Key Vault Secrets Officer and Key Vault Reader share. */
const KEY_VAULT_MANAGEMENT_READ = [
  "Microsoft.Authorization/*/read",
  "Microsoft.Insights/alertRules/*",
  "Microsoft.Resources/deployments/*",
  "Microsoft.Resources/subscriptions/resourceGroups/read",
  "Microsoft.Support/*",
  "Microsoft.KeyVault/checkNameAvailability/read",
  "Microsoft.KeyVault/deletedVaults/read",
  "Microsoft.KeyVault/locations/*/read",
  "Microsoft.KeyVault/vaults/*/read",
  "Microsoft.KeyVault/operations/read",
] as const;

export const KEY_VAULT_SECRETS_OFFICER = builtIn({
  guid: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
  roleName: "Key Vault Secrets Officer",
  actions: [...KEY_VAULT_MANAGEMENT_READ],
  notActions: [],
  dataActions: ["Microsoft.KeyVault/vaults/secrets/*"],
  notDataActions: [],
});

export const KEY_VAULT_READER = builtIn({
  guid: "21090545-7ca7-4776-b22c-e363652d74d2",
  roleName: "Key Vault Reader",
  actions: [...KEY_VAULT_MANAGEMENT_READ],
  notActions: [],
  dataActions: ["Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"],
  notDataActions: [],
});

export const MONITORING_READER = builtIn({
  guid: "43d0d8ad-25c7-4714-9337-8ba259a9fe05",
  roleName: "Monitoring Reader",
  actions: ["*/read", "Microsoft.OperationalInsights/workspaces/search/action", "Microsoft.Support/*"],
  notActions: [],
  dataActions: [],
  notDataActions: [],
});

/** The maintained table, in the order a user reading a suggestion list would look for them. */
export const BUILT_IN_ROLE_DEFINITIONS: readonly RoleDefinition[] = Object.freeze([
  READER,
  CONTRIBUTOR,
  OWNER,
  USER_ACCESS_ADMINISTRATOR,
  ROLE_BASED_ACCESS_CONTROL_ADMINISTRATOR,
  STORAGE_BLOB_DATA_READER,
  STORAGE_BLOB_DATA_CONTRIBUTOR,
  STORAGE_BLOB_DATA_OWNER,
  KEY_VAULT_SECRETS_USER,
  KEY_VAULT_SECRETS_OFFICER,
  KEY_VAULT_READER,
  MONITORING_READER,
]);

/** Built-in role GUIDs by identifier, identical in every Azure cloud. */
export const BUILT_IN_ROLES = {
  Reader: READER.guid,
  Contributor: CONTRIBUTOR.guid,
  Owner: OWNER.guid,
  UserAccessAdministrator: USER_ACCESS_ADMINISTRATOR.guid,
  RoleBasedAccessControlAdministrator: ROLE_BASED_ACCESS_CONTROL_ADMINISTRATOR.guid,
  StorageBlobDataReader: STORAGE_BLOB_DATA_READER.guid,
  StorageBlobDataContributor: STORAGE_BLOB_DATA_CONTRIBUTOR.guid,
  StorageBlobDataOwner: STORAGE_BLOB_DATA_OWNER.guid,
  KeyVaultSecretsUser: KEY_VAULT_SECRETS_USER.guid,
  KeyVaultSecretsOfficer: KEY_VAULT_SECRETS_OFFICER.guid,
  KeyVaultReader: KEY_VAULT_READER.guid,
  MonitoringReader: MONITORING_READER.guid,
} as const;

/** A fixed namespace so that the same inputs give the same name on every machine, forever. */
const NAMESPACE = "6f0b7c1e-2f4d-5a8e-9c3b-1d2e3f4a5b6c";

/**
 * Role assignment names must be GUIDs. Deriving it from scope, role and
 * principal (case-insensitively, as ARM compares them) makes re-runs idempotent
 * (no RoleAssignmentExists from a random name) and turns a new principal into a
 * new name, so Pulumi replaces the assignment instead of failing to update it.
 */
export function roleAssignmentName(scope: string, roleDefinitionGuid: string, principalId: string): string {
  return uuidv5([scope, roleDefinitionGuid, principalId].map((s) => s.toLowerCase()).join("|"), NAMESPACE);
}

export function roleDefinitionId(subscriptionId: string, roleDefinitionGuid: string): string {
  return `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${roleDefinitionGuid}`;
}

/** What a role given by name, GUID or id refers to. */
export type ResolvedRole =
  /** A role in the maintained table: its permissions are known, so intent can be compared with effect. */
  | { readonly kind: "builtIn"; readonly guid: string; readonly definition: RoleDefinition }
  /** A GUID the table does not hold (a custom role, or a built-in one not yet transcribed): only the GUID is known. */
  | { readonly kind: "guid"; readonly guid: string };

const GUID_PATTERN = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const BARE_GUID = new RegExp(`^${GUID_PATTERN}$`, "i");
/*
 * Role definition ids as ARM writes them: tenant-level for built-in roles
 * ("/providers/Microsoft.Authorization/roleDefinitions/<guid>"), subscription-level in
 * role assignments ("/subscriptions/<sub>/providers/..."), and management-group-level for
 * custom roles defined there (https://learn.microsoft.com/en-us/rest/api/authorization/role-definitions/get).
 */
const ROLE_DEFINITION_ID = new RegExp(
  `^(?:/subscriptions/[^/]+(?:/resourceGroups/[^/]+)?|/providers/Microsoft\\.Management/managementGroups/[^/]+)?` +
    `/providers/Microsoft\\.Authorization/roleDefinitions/(${GUID_PATTERN})$`,
  "i",
);

/** Role names compare case-insensitively and ignore runs of white space, as people type them. */
function normalizeName(s: string): string {
  return s.trim().replace(/\s+/g, " ").toLowerCase();
}

const BY_GUID = new Map(BUILT_IN_ROLE_DEFINITIONS.map((r) => [r.guid.toLowerCase(), r]));
const BY_NAME = new Map(BUILT_IN_ROLE_DEFINITIONS.map((r) => [normalizeName(r.roleName), r]));

/**
 * Resolves a role given as a built-in role name (any case), a bare GUID (any case) or a
 * role definition id. A GUID of a role in the table resolves to that role; any other
 * well-formed GUID is a `guid` reference (ARM decides later whether it exists). Anything
 * else, an unknown name included, is `undefined`: see closestRoleName for a suggestion.
 */
export function resolveRole(nameOrGuid: string): ResolvedRole | undefined {
  const s = nameOrGuid.trim();
  const guid = BARE_GUID.test(s) ? s : ROLE_DEFINITION_ID.exec(s)?.[1];
  if (guid !== undefined) {
    const lower = guid.toLowerCase();
    const definition = BY_GUID.get(lower);
    return definition ? { kind: "builtIn", guid: definition.guid, definition } : { kind: "guid", guid: lower };
  }
  const definition = BY_NAME.get(normalizeName(s));
  return definition ? { kind: "builtIn", guid: definition.guid, definition } : undefined;
}

/**
 * The built-in role name a mistyped one most likely meant, for a "did you mean" in
 * validation errors; undefined when nothing is close. Close means a small edit distance
 * (a third of the input's length, at least 2: "Reeder", "contributer", "Storage Blob Data Readers"),
 * or, failing that, a name containing every word of the input ("blob reader", "RBAC administrator"),
 * the shortest first.
 */
export function closestRoleName(input: string): string | undefined {
  // "RBAC" is what the docs and the portal call Role Based Access Control in prose.
  const s = normalizeName(input).replace(/\brbac\b/g, "role based access control");
  if (!s) return undefined;
  let best: { name: string; d: number } | undefined;
  for (const r of BUILT_IN_ROLE_DEFINITIONS) {
    const d = distance(s, normalizeName(r.roleName));
    if (!best || d < best.d) best = { name: r.roleName, d };
  }
  if (best && best.d <= Math.max(2, Math.floor(s.length / 3))) return best.name;
  const words = s.split(" ");
  const containing = BUILT_IN_ROLE_DEFINITIONS.filter((r) => {
    const name = normalizeName(r.roleName).split(" ");
    return words.every((w) => name.includes(w));
  }).sort((a, b) => a.roleName.length - b.roleName.length);
  return containing[0]?.roleName;
}
