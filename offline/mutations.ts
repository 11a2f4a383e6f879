/**
 * Deliberate misconfigurations, applied to the real program as Pulumi stack
 * transformations, to rehearse what each one does and to prove that the
 * rehearsal (and the probe) catch them.
 */
import * as pulumi from "@pulumi/pulumi";
import { STORAGE_BLOB_DATA_READER } from "../components/roles";

/** The other resource group that "wrong-scope" points the role assignment at. */
export const OTHER_RESOURCE_GROUP = "some-other-rg";

export const MUTATIONS = {
  "wrong-scope": "Reader on another resource group",
  "wrong-principal": "Reader for another principal than the VM's identity",
  "role-without-read": "a role without read (Storage Blob Data Reader) instead of Reader",
  "no-dependency": "the extension without its dependency on the role assignment",
} as const;
export type Mutation = keyof typeof MUTATIONS;

const ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment";
const EXTENSION = "azure-native:compute:VirtualMachineExtension";

export function mutationTransformation(mutation: Mutation, subscriptionId: string): pulumi.ResourceTransformation {
  return ({ type, props, opts }) => {
    if (mutation === "no-dependency" && type === EXTENSION) {
      return { props, opts: { ...opts, dependsOn: [] } };
    }
    if (type !== ROLE_ASSIGNMENT) return undefined;
    switch (mutation) {
      case "wrong-scope":
        return { props: { ...props, scope: `/subscriptions/${subscriptionId}/resourceGroups/${OTHER_RESOURCE_GROUP}` }, opts };
      case "wrong-principal":
        return { props: { ...props, principalId: "0d9e8f7a-6b5c-4d3e-9f2a-1b0c9d8e7f6a" }, opts };
      case "role-without-read":
        return {
          props: {
            ...props,
            roleDefinitionId: `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${STORAGE_BLOB_DATA_READER.guid}`,
          },
          opts,
        };
      default:
        return undefined;
    }
  };
}
