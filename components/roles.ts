import { v5 as uuidv5 } from "uuid";

/** Built-in role ids, identical in every Azure cloud. */
export const BUILT_IN_ROLES = {
  Reader: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
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
