import * as pulumi from "@pulumi/pulumi";
import type * as compute from "@pulumi/azure-native/compute";
import type * as computeInputs from "@pulumi/azure-native/types/input";
import type { IdentityKind } from "../settings/schema";

/**
 * What IdentitySetup needs from a VM, whatever its OS: WindowsVm and LinuxVm implement it.
 */
export interface IdentityVm extends pulumi.Resource {
  /** The VM's Azure name (the probe's extension goes on it). */
  readonly vmName: pulumi.Output<string>;
  readonly vmId: pulumi.Output<string>;
  /** Object id of the system-assigned identity; "" when the VM has none. */
  readonly principalId: pulumi.Output<string>;
  /** ARM ids of the user-assigned identities attached to the VM. */
  readonly userAssignedIdentities: pulumi.Output<string[]>;
  readonly adminUsername: pulumi.Output<string>;
  /** The admin's credential, secret: Windows' generated password (Linux: its generated private key, if any). */
  readonly adminPassword: pulumi.Output<string>;
}

/** What IdentitySetup hands a VM component: the same for Windows and Linux. */
export interface IdentityVmArgs {
  readonly resourceGroupName: pulumi.Input<string>;
  readonly location: pulumi.Input<string>;
  readonly subnetId: pulumi.Input<string>;
  readonly vmSize: pulumi.Input<string>;
  /** Windows: at most 15 characters; Linux: the host name. */
  readonly computerName: pulumi.Input<string>;
  readonly adminUsername: pulumi.Input<string>;
  readonly identity: IdentityKind;
  /** ARM ids of the user-assigned identities to attach (identity userAssigned or both). */
  readonly userAssignedIdentityIds?: pulumi.Input<string>[];
  /** A public IP for the opted-in RDP or SSH rule. */
  readonly publicIp?: boolean;
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Base64 user data (the Windows probe's script when it does not fit inline). */
  readonly userData?: pulumi.Input<string | undefined>;
}

/**
 * The NIC (and the opt-in public IP) a VM creates from its own profile, both deleted with it (`deleteOption: Delete`):
 * a NIC Pulumi also managed would be deleted by Azure behind Pulumi's back whenever the VM is replaced.
 */
export function vmNetworkProfile(
  name: string,
  subnetId: pulumi.Input<string>,
  publicIp: boolean | undefined,
): computeInputs.compute.NetworkProfileArgs {
  return {
    networkApiVersion: "2022-11-01",
    networkInterfaceConfigurations: [
      {
        name: `${name}-nic`,
        primary: true,
        deleteOption: "Delete",
        ipConfigurations: [
          {
            name: "ipconfig1",
            primary: true,
            subnet: { id: subnetId },
            publicIPAddressConfiguration: publicIp
              ? {
                  name: `${name}-pip`,
                  deleteOption: "Delete",
                  sku: { name: "Standard", tier: "Regional" },
                  publicIPAllocationMethod: "Static",
                }
              : undefined,
          },
        ],
      },
    ],
  };
}

/** The system-assigned identity's principal id; "" for a VM with only a user-assigned identity. */
export function systemPrincipalId(vm: compute.VirtualMachine, kind: IdentityKind, owner: pulumi.Resource): pulumi.Output<string> {
  return vm.identity.apply((i) => {
    if (kind === "userAssigned") return "";
    if (!i?.principalId) throw new pulumi.ResourceError("the VM came back without a system-assigned identity", owner);
    return i.principalId;
  });
}
