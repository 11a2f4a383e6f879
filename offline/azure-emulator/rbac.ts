/**
 * Azure RBAC evaluation, reduced to what a control-plane read needs.
 *
 * Semantics (https://learn.microsoft.com/en-us/azure/role-based-access-control/overview,
 * ".../role-definitions#actions" and ".../scope-overview"):
 * - an assignment applies at its scope and every scope below it (inheritance down the
 *   management hierarchy "/" > /subscriptions/x > /subscriptions/x/resourceGroups/rg);
 * - a role grants an operation when one of its `actions` matches and none of the
 *   *same role's* `notActions` does ("NotActions ... is subtracted from Actions"); the
 *   grants of several roles are unioned;
 * - operation strings are case-insensitive and `*` is a wildcard over any characters,
 *   so `*`, Reader's "star slash read" and `Microsoft.Resources/*` all match
 *   `Microsoft.Resources/subscriptions/resourceGroups/read`.
 *
 * Built-in role definitions are copied from MicrosoftDocs/azure-docs
 * articles/role-based-access-control/built-in-roles/privileged.md (Owner, Contributor)
 * and .../built-in-roles/general.md (Reader).
 */

export interface RoleDefinition {
  id: string; // GUID (the role definition's `name`)
  roleName: string;
  actions: string[];
  notActions: string[];
  dataActions: string[];
  notDataActions: string[];
}

export const READER_ROLE_ID = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
export const CONTRIBUTOR_ROLE_ID = "b24988ac-6180-42a0-ab88-20f7382dd24c";
export const OWNER_ROLE_ID = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";

export const BUILT_IN_ROLES: readonly RoleDefinition[] = [
  { id: READER_ROLE_ID, roleName: "Reader", actions: ["*/read"], notActions: [], dataActions: [], notDataActions: [] },
  {
    id: CONTRIBUTOR_ROLE_ID,
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
  },
  { id: OWNER_ROLE_ID, roleName: "Owner", actions: ["*"], notActions: [], dataActions: [], notDataActions: [] },
];

/** The operation ARM checks for `GET /subscriptions/{s}/resourceGroups/{rg}`. */
export const RESOURCE_GROUP_READ = "Microsoft.Resources/subscriptions/resourceGroups/read";

/** Does an RBAC operation pattern (with `*` wildcards) match an operation? Case-insensitive. */
export function actionMatches(pattern: string, action: string): boolean {
  const re = new RegExp(
    "^" +
      pattern
        .split("*")
        .map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, "\\$&"))
        .join(".*") +
      "$",
    "i",
  );
  return re.test(action);
}

/** Does this role definition, on its own, grant `action`? */
export function roleGrants(role: RoleDefinition, action: string): boolean {
  return role.actions.some((a) => actionMatches(a, action)) && !role.notActions.some((n) => actionMatches(n, action));
}

/** Canonical form of a scope for comparisons: lower case, no trailing slash ("/" stays "/"). */
export function normalizeScope(scope: string): string {
  let s = scope.trim().toLowerCase();
  if (!s.startsWith("/")) s = "/" + s;
  while (s.length > 1 && s.endsWith("/")) s = s.slice(0, -1);
  return s;
}

/** An assignment at `assignmentScope` applies at `requestScope` when it is the same scope or an ancestor (on a segment boundary). */
export function scopeCovers(assignmentScope: string, requestScope: string): boolean {
  const a = normalizeScope(assignmentScope);
  const r = normalizeScope(requestScope);
  if (a === "/") return true;
  return r === a || r.startsWith(a + "/");
}
