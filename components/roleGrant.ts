import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import { BUILT_IN_ROLES, roleAssignmentName, roleDefinitionId } from "./roles";

export interface RoleGrantArgs {
  /** ARM id of the scope, e.g. a resource group's id. Keep it as narrow as the need. */
  readonly scope: pulumi.Input<string>;
  /** Object id of the service principal (a managed identity's principalId). */
  readonly principalId: pulumi.Input<string>;
  /** Subscription of the role definition (built-in roles have the same GUID in every subscription). */
  readonly subscriptionId: pulumi.Input<string>;
  /** GUID of the role definition. Default: Reader. */
  readonly roleDefinitionGuid?: pulumi.Input<string>;
  /**
   * An ABAC condition on the assignment (Azure attribute-based access control); default none. Azure takes
   * conditions only on roles with data actions (storage blobs and queues); "Azure ABAC conditions",
   * https://learn.microsoft.com/azure/role-based-access-control/conditions-overview.
   */
  readonly condition?: pulumi.Input<string>;
  /** The condition's version; "2.0" (the only one Azure accepts) when there is a condition. */
  readonly conditionVersion?: pulumi.Input<string>;
}

/**
 * One role for one managed identity at any scope (a resource group, the subscription, any resource),
 * optionally under an ABAC condition.
 *
 * `principalType: ServicePrincipal` lets ARM accept the assignment before the
 * fresh identity has replicated through Entra ID (otherwise: PrincipalNotFound).
 * The name is derived from scope, role and principal (see roleAssignmentName).
 */
export class RoleGrant extends pulumi.ComponentResource {
  public readonly assignment: authorization.RoleAssignment;
  public readonly roleAssignmentId: pulumi.Output<string>;

  /**
   * @param name Logical name; the assignment is `${name}-assignment`.
   * @param args Who gets which role where.
   * @param opts Options for the component; children get `{ parent: this }`.
   */
  constructor(name: string, args: RoleGrantArgs, opts?: pulumi.ComponentResourceOptions) {
    super("identitylab:authorization:RoleGrant", name, {}, opts);
    const role = args.roleDefinitionGuid ?? BUILT_IN_ROLES.Reader;

    this.assignment = new authorization.RoleAssignment(
      `${name}-assignment`,
      {
        scope: args.scope,
        principalId: args.principalId,
        principalType: "ServicePrincipal",
        roleDefinitionId: pulumi.all([args.subscriptionId, role]).apply(([sub, r]) => roleDefinitionId(sub, r)),
        roleAssignmentName: pulumi
          .all([args.scope, role, args.principalId])
          .apply(([scope, r, principal]) => roleAssignmentName(scope, r, principal)),
        ...(args.condition !== undefined ? { condition: args.condition, conditionVersion: args.conditionVersion ?? "2.0" } : {}),
      },
      { parent: this },
    );
    this.roleAssignmentId = this.assignment.id;
    this.registerOutputs({ roleAssignmentId: this.roleAssignmentId });
  }
}
