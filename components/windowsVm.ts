import * as pulumi from "@pulumi/pulumi";
import * as compute from "@pulumi/azure-native/compute";
import * as random from "@pulumi/random";
import type { IdentityKind } from "../settings/schema";
import { systemPrincipalId, vmNetworkProfile, type IdentityVm } from "./identityVm";

export interface WindowsVmArgs {
  /** Resource group that holds the VM (and the NIC, disk and public IP it creates). */
  readonly resourceGroupName: pulumi.Input<string>;
  /** Azure region of the VM. */
  readonly location: pulumi.Input<string>;
  /** Subnet for the VM's NIC. */
  readonly subnetId: pulumi.Input<string>;
  /** A Gen2-capable size, e.g. "Standard_B2s_v2". */
  readonly vmSize: pulumi.Input<string>;
  /** A Windows Server Azure Edition SKU of MicrosoftWindowsServer/WindowsServer, e.g. "2025-datacenter-azure-edition". */
  readonly imageSku: pulumi.Input<string>;
  /** Windows computer name, at most 15 characters. */
  readonly computerName: pulumi.Input<string>;
  /** The local administrator's name; its password is generated (see adminPassword). */
  readonly adminUsername: pulumi.Input<string>;
  /** Azure Edition supports hotpatching (security updates without reboots). Default: true. */
  readonly hotpatch?: pulumi.Input<boolean>;
  /** Give the NIC a Standard static public IP (for RDP through the NSG rule). Default: none. */
  readonly publicIp?: boolean;
  /** Tags for the VM. Default: none. */
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Which managed identities the VM has. Default: systemAssigned (the tutorial). */
  readonly identity?: IdentityKind;
  /** ARM ids of the user-assigned identities to attach (identity userAssigned or both). */
  readonly userAssignedIdentityIds?: pulumi.Input<string>[];
  /**
   * Base64 user data, readable on the VM from IMDS (`/metadata/instance/compute/userData`): the probe's
   * script when it is too large for commandToExecute (probe/command.ts renderWindowsProbe). Default: none.
   */
  readonly userData?: pulumi.Input<string | undefined>;
}

/** ARM's identity type for an identity kind (compute ResourceIdentityType). */
export function vmIdentityType(kind: IdentityKind): "SystemAssigned" | "UserAssigned" | "SystemAssigned, UserAssigned" {
  return kind === "systemAssigned" ? "SystemAssigned" : kind === "userAssigned" ? "UserAssigned" : "SystemAssigned, UserAssigned";
}

/**
 * A Trusted Launch Windows VM with a system-assigned managed identity. Its
 * admin password comes from @pulumi/random and stays a Pulumi secret. The OS
 * disk, the NIC and any public IP are created by the VM and deleted with it.
 */
export class WindowsVm extends pulumi.ComponentResource implements IdentityVm {
  public readonly vmId: pulumi.Output<string>;
  /** The VM's Azure name. */
  public readonly vmName: pulumi.Output<string>;
  /** Object id of the system-assigned identity's service principal; "" when the VM has none (identity userAssigned). */
  public readonly principalId: pulumi.Output<string>;
  /** ARM ids of the user-assigned identities attached; empty for the tutorial. */
  public readonly userAssignedIdentities: pulumi.Output<string[]>;
  /** Tenant of the system-assigned identity. */
  public readonly tenantId: pulumi.Output<string>;
  public readonly adminUsername: pulumi.Output<string>;
  /** Secret. */
  public readonly adminPassword: pulumi.Output<string>;

  /**
   * @param name Logical name; children are `${name}-vm`, `${name}-admin-password`, and the NIC `${name}-nic`.
   * @param args Where the VM goes and what it runs.
   * @param opts Options for the component; children get `{ parent: this }`.
   */
  constructor(name: string, args: WindowsVmArgs, opts?: pulumi.ComponentResourceOptions) {
    super("identitylab:compute:WindowsVm", name, {}, opts);
    const kind = args.identity ?? "systemAssigned";

    // Azure wants 12-123 characters from 3 of 4 classes; the minimums guarantee all 4.
    // The special set leaves out quotes, backtick, $ and % so the password survives
    // being pasted into cmd, PowerShell and RDP clients.
    const password = new random.RandomPassword(
      `${name}-admin-password`,
      { length: 24, minUpper: 2, minLower: 2, minNumeric: 2, minSpecial: 2, overrideSpecial: "!#()*+,-.:;<=>?@[]^_{}~" },
      { parent: this },
    );
    // Explicitly secret: RandomPassword's result is secret only through its
    // additionalSecretOutputs, that is only if the engine applies them when it answers
    // (the mock runtime does not). Wrapped here, the VM's input is a secret whatever
    // the engine does.
    const adminPassword = pulumi.secret(password.result);

    const vm = new compute.VirtualMachine(
      `${name}-vm`,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        tags: args.tags,
        identity: identity(kind, args.userAssignedIdentityIds),
        userData: args.userData,
        hardwareProfile: { vmSize: args.vmSize },
        securityProfile: {
          securityType: "TrustedLaunch",
          uefiSettings: { secureBootEnabled: true, vTpmEnabled: true },
        },
        storageProfile: {
          imageReference: { publisher: "MicrosoftWindowsServer", offer: "WindowsServer", sku: args.imageSku, version: "latest" },
          osDisk: {
            createOption: "FromImage",
            caching: "ReadWrite",
            deleteOption: "Delete",
            managedDisk: { storageAccountType: "StandardSSD_LRS" },
          },
        },
        osProfile: {
          computerName: args.computerName,
          adminUsername: args.adminUsername,
          adminPassword,
          windowsConfiguration: {
            provisionVMAgent: true,
            enableAutomaticUpdates: true,
            patchSettings: {
              // Azure Edition is patched by the platform; hotpatch requires this mode.
              patchMode: "AutomaticByPlatform",
              assessmentMode: "AutomaticByPlatform",
              enableHotpatching: args.hotpatch ?? true,
              automaticByPlatformSettings: { rebootSetting: "IfRequired" },
            },
          },
        },
        networkProfile: vmNetworkProfile(name, args.subnetId, args.publicIp),
        diagnosticsProfile: { bootDiagnostics: { enabled: true } },
      },
      // The NIC configuration's name is fixed; the old VM (and the NIC it created) must be gone
      // before a replacement creates its own.
      { parent: this, deleteBeforeReplace: true },
    );

    this.vmId = vm.id;
    this.vmName = vm.name;
    this.principalId = systemPrincipalId(vm, kind, this);
    this.userAssignedIdentities = pulumi.output(args.userAssignedIdentityIds ?? []);
    this.tenantId = vm.identity.apply((i) => i?.tenantId ?? "");
    this.adminUsername = pulumi.output(args.adminUsername);
    this.adminPassword = adminPassword;
    this.registerOutputs({
      vmId: this.vmId,
      vmName: this.vmName,
      principalId: this.principalId,
      userAssignedIdentities: this.userAssignedIdentities,
      tenantId: this.tenantId,
      adminUsername: this.adminUsername,
      adminPassword: this.adminPassword,
    });
  }
}

/** The VM's identity input; the tutorial's stays exactly `{ type: "SystemAssigned" }`. */
function identity(kind: IdentityKind, ids: pulumi.Input<string>[] | undefined) {
  const type = vmIdentityType(kind);
  return kind === "systemAssigned" ? { type } : { type, userAssignedIdentities: ids ?? [] };
}
