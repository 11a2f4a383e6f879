/**
 * Azure RBAC evaluation, reduced to what the emulator's endpoints need.
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
 *   `Microsoft.Resources/subscriptions/resourceGroups/read`;
 * - `dataActions` / `notDataActions` work the same way in the data-plane namespace.
 *
 * The built-in role definitions and the evaluation itself are the product's
 * (components/roles.ts, probe/permissions.ts), so the emulator cannot drift from what the
 * program grants and what its permission comparison assumes.
 */
import { BUILT_IN_ROLE_DEFINITIONS, CONTRIBUTOR, OWNER, READER } from "../../components/roles";
import { blockGrants, patternMatches, type OperationKind } from "../../probe/permissions";

/** The emulator's shape of a role definition: `id` is the GUID (the definition's `name`). */
export interface RoleDefinition {
  id: string;
  roleName: string;
  actions: string[];
  notActions: string[];
  dataActions: string[];
  notDataActions: string[];
}

export const READER_ROLE_ID = READER.guid;
export const CONTRIBUTOR_ROLE_ID = CONTRIBUTOR.guid;
export const OWNER_ROLE_ID = OWNER.guid;

export const BUILT_IN_ROLES: readonly RoleDefinition[] = BUILT_IN_ROLE_DEFINITIONS.map((r) => ({
  id: r.guid,
  roleName: r.roleName,
  actions: [...r.actions],
  notActions: [...r.notActions],
  dataActions: [...r.dataActions],
  notDataActions: [...r.notDataActions],
}));

/** The operation ARM checks for `GET /subscriptions/{s}/resourceGroups/{rg}`. */
export const RESOURCE_GROUP_READ = "Microsoft.Resources/subscriptions/resourceGroups/read";

/** Does an RBAC operation pattern (with `*` wildcards) match an operation? Case-insensitive. */
export function actionMatches(pattern: string, action: string): boolean {
  return patternMatches(pattern, action);
}

/** Does this role definition, on its own, grant `operation` (a control-plane action unless `kind` says data)? */
export function roleGrants(role: RoleDefinition, operation: string, kind: OperationKind = "actions"): boolean {
  return blockGrants(role, operation, kind);
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
