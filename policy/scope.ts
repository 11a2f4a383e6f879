/**
 * Pure facts about ARM role assignments and about where a resource sits in the program:
 * which scope a role assignment covers, which built-in role it grants, and which
 * "setup" it belongs to. No Pulumi runtime here, so every rule is tested on plain values.
 */

/**
 * Built-in role definition GUIDs, identical in every Azure cloud. Source: Microsoft's
 * "Azure built-in roles" page, Privileged and General tables
 * (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles#privileged;
 * MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles.md, ms.date 04/09/2026).
 */
export const BUILT_IN_ROLES = {
  Owner: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
  Contributor: "b24988ac-6180-42a0-ab88-20f7382dd24c",
  "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
  "Role Based Access Control Administrator": "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
  Reader: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
} as const;

export type BuiltInRoleName = keyof typeof BUILT_IN_ROLES;

/**
 * Roles that may change what anyone can do (Owner, User Access Administrator, RBAC
 * Administrator can write role assignments) or everything but that (Contributor).
 */
export const PRIVILEGED_ROLES: readonly string[] = [
  BUILT_IN_ROLES.Owner,
  BUILT_IN_ROLES["User Access Administrator"],
  BUILT_IN_ROLES["Role Based Access Control Administrator"],
  BUILT_IN_ROLES.Contributor,
];

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** "Reader", "reader" or a GUID -> the lowercase GUID; undefined for anything else. */
export function roleGuidFromName(role: string): string | undefined {
  if (GUID.test(role)) return role.toLowerCase();
  const entry = Object.entries(BUILT_IN_ROLES).find(([name]) => name.toLowerCase() === role.trim().toLowerCase());
  return entry?.[1];
}

/** The role's GUID from a roleDefinitionId (".../providers/Microsoft.Authorization/roleDefinitions/<guid>"), lowercase. */
export function roleGuidOf(roleDefinitionId: string): string | undefined {
  const match = /\/providers\/Microsoft\.Authorization\/roleDefinitions\/([^/]+)\/?$/i.exec(roleDefinitionId ?? "");
  return match && GUID.test(match[1]) ? match[1].toLowerCase() : undefined;
}

/** A readable name for a role GUID: the built-in name, else the GUID itself. */
export function roleLabel(guid: string | undefined): string {
  if (!guid) return "an unrecognised role definition";
  const entry = Object.entries(BUILT_IN_ROLES).find(([, id]) => id === guid.toLowerCase());
  return entry ? `${entry[0]} (${entry[1]})` : guid;
}

/**
 * Where a role assignment applies. ARM's four levels (management group, subscription,
 * resource group, resource: https://learn.microsoft.com/azure/role-based-access-control/scope-overview)
 * plus "root" ("/", above every management group) and "tenant" (any other "/providers/..."
 * scope outside a subscription). "unrecognised" is anything else: the pack fails closed on it.
 */
export type ScopeKind = "root" | "tenant" | "managementGroup" | "subscription" | "resourceGroup" | "resource" | "unrecognised";

/** Kinds above a resource group, from the widest. */
export const ABOVE_RESOURCE_GROUP: readonly ScopeKind[] = ["root", "tenant", "managementGroup", "subscription", "unrecognised"];

export function classifyScope(scope: string): ScopeKind {
  if (typeof scope !== "string") return "unrecognised";
  const trimmed = scope.trim();
  if (trimmed === "/") return "root";
  if (!trimmed.startsWith("/") || trimmed.includes("//")) return "unrecognised";
  // ARM ids compare case-insensitively.
  const parts = trimmed.replace(/\/$/, "").slice(1).split("/");
  const lower = parts.map((p) => p.toLowerCase());
  if (lower[0] === "providers") {
    if (lower[1] === "microsoft.management" && lower[2] === "managementgroups" && parts.length === 4 && parts[3]) return "managementGroup";
    return parts.length >= 2 ? "tenant" : "unrecognised";
  }
  if (lower[0] !== "subscriptions" || !parts[1]) return "unrecognised";
  if (parts.length === 2) return "subscription";
  if (lower[2] === "resourcegroups") {
    if (!parts[3]) return "unrecognised";
    if (parts.length === 4) return "resourceGroup";
    return lower[4] === "providers" && parts.length >= 8 ? "resource" : "unrecognised";
  }
  // A subscription-level resource (/subscriptions/<id>/providers/<ns>/<type>/<name>) is narrower than its subscription.
  return lower[2] === "providers" && parts.length >= 6 ? "resource" : "unrecognised";
}

export function isAboveResourceGroup(kind: ScopeKind): boolean {
  return ABOVE_RESOURCE_GROUP.includes(kind);
}

/** One ancestor of a resource, nearest first: its Pulumi type token and logical name. */
export interface Ancestor {
  readonly type: string;
  readonly name: string;
}

export const SETUP_TYPE = "identitylab:setup:IdentitySetup";

/**
 * Which "setup" a resource belongs to, for allowances: the logical name of the nearest
 * ancestor of type identitylab:setup:IdentitySetup; failing that, of the outermost
 * identitylab: component (today's program: the IdentityLab, named after namePrefix; the
 * nearest one would be a building block such as the RoleGrant, which names a grant, not a
 * setup); undefined outside the lab's components. `ancestors` runs from the parent outwards.
 */
export function setupOf(ancestors: readonly Ancestor[]): string | undefined {
  return (
    ancestors.find((a) => a.type === SETUP_TYPE)?.name ?? [...ancestors].reverse().find((a) => a.type.startsWith("identitylab:"))?.name
  );
}

/**
 * The type tokens in a URN's qualified type, outermost first, the resource's own type last:
 * urn:pulumi:<stack>::<project>::<parent$...$type>::<name>. The engine puts the whole parent
 * chain's types there; the names of the ancestors are not in it.
 */
export function urnTypes(urn: string): string[] {
  const parts = (urn ?? "").split("::");
  if (parts.length < 4 || !parts[0].startsWith("urn:pulumi:")) return [];
  return parts[2].split("$");
}

/** True when some ancestor (in the URN or the parent chain) is one of the lab's components. */
export function insideLab(urn: string, ancestors: readonly Ancestor[] = []): boolean {
  return (
    urnTypes(urn)
      .slice(0, -1)
      .some((t) => t.startsWith("identitylab:")) || ancestors.some((a) => a.type.startsWith("identitylab:"))
  );
}

/** Type tokens are matched without the optional API-version module suffix (azure-native:network/v20240301:...). */
export function isAzureType(type: string, module: string, resource: string): boolean {
  const m = /^azure-native:([^:/]+)(\/[^:]+)?:([^:]+)$/.exec(type ?? "");
  return !!m && m[1] === module && m[3] === resource;
}
