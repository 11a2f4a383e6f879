import * as pulumi from "@pulumi/pulumi";
import * as compute from "@pulumi/azure-native/compute";
import * as tls from "@pulumi/tls";
import type { IdentityKind } from "../settings/schema";
import { systemPrincipalId, vmNetworkProfile, type IdentityVm, type IdentityVmArgs } from "./identityVm";
import { vmIdentityType } from "./windowsVm";

/**
 * Ubuntu 24.04 LTS, Gen2: `Canonical:ubuntu-24_04-lts:server` is the az CLI's `Ubuntu2404` alias
 * (Azure/azure-rest-api-specs arm-compute/quickstart-templates/aliases.json); the `server` SKU is the Gen2 one
 * (`server-gen1` is the Gen1 image beside it). Trusted Launch on 24.04: Microsoft's trusted-launch.md lists Ubuntu
 * only up to 23.10 (doc lag); not verified against real Azure here.
 */
export const UBUNTU_2404_IMAGE = { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" } as const;

export interface LinuxVmArgs extends IdentityVmArgs {
  /**
   * The admin's OpenSSH public key (`ssh-ed25519 ...` or `ssh-rsa ...`). Empty or absent: an Ed25519 key is
   * generated with @pulumi/tls and its private key is a Pulumi secret output (`adminPassword`, `sshPrivateKey`).
   */
  readonly sshPublicKey?: pulumi.Input<string>;
  /** The image; default Ubuntu 24.04 LTS Gen2 (UBUNTU_2404_IMAGE). */
  readonly imageReference?: pulumi.Input<{ publisher: string; offer: string; sku: string; version: string }>;
}

/**
 * A Trusted Launch (secure boot + vTPM) Ubuntu VM that accepts SSH keys only (password authentication off),
 * with the same managed-identity shapes and outputs as WindowsVm. The OS disk, the NIC and any public IP are
 * created by the VM and deleted with it.
 */
export class LinuxVm extends pulumi.ComponentResource implements IdentityVm {
  public readonly vmId: pulumi.Output<string>;
  /** The VM's Azure name. */
  public readonly vmName: pulumi.Output<string>;
  /** Object id of the system-assigned identity's service principal; "" when the VM has none (identity userAssigned). */
  public readonly principalId: pulumi.Output<string>;
  /** ARM ids of the user-assigned identities attached; empty for systemAssigned. */
  public readonly userAssignedIdentities: pulumi.Output<string[]>;
  /** Tenant of the system-assigned identity. */
  public readonly tenantId: pulumi.Output<string>;
  public readonly adminUsername: pulumi.Output<string>;
  /** The admin's public key, as installed on the VM. */
  public readonly sshPublicKey: pulumi.Output<string>;
  /** Secret: the generated private key (OpenSSH PEM), or "" when the user's own public key was given. */
  public readonly sshPrivateKey: pulumi.Output<string>;
  /** IdentityVm's credential: the same secret as sshPrivateKey. */
  public readonly adminPassword: pulumi.Output<string>;

  /**
   * @param name Logical name; children are `${name}-vm`, `${name}-ssh-key` (when generated), and the NIC `${name}-nic`.
   * @param args Where the VM goes and what it runs.
   * @param opts Options for the component; children get `{ parent: this }`.
   */
  constructor(name: string, args: LinuxVmArgs, opts?: pulumi.ComponentResourceOptions) {
    super("identitylab:compute:LinuxVm", name, {}, opts);
    const kind: IdentityKind = args.identity ?? "systemAssigned";

    const given = pulumi.output(args.sshPublicKey ?? "").apply((k) => k.trim());
    // Generated only when no key is configured: the choice must be known at construction, so a key that is an
    // unknown Output counts as given.
    const generate = args.sshPublicKey === undefined || args.sshPublicKey === "";
    const key = generate ? new tls.PrivateKey(`${name}-ssh-key`, { algorithm: "ED25519" }, { parent: this }) : undefined;
    const publicKey = key ? key.publicKeyOpenssh.apply((k) => k.trim()) : given;
    const privateKey = key ? pulumi.secret(key.privateKeyOpenssh) : pulumi.secret(pulumi.output(""));
    const adminUsername = pulumi.output(args.adminUsername);

    const vm = new compute.VirtualMachine(
      `${name}-vm`,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        tags: args.tags,
        identity:
          kind === "systemAssigned"
            ? { type: vmIdentityType(kind) }
            : { type: vmIdentityType(kind), userAssignedIdentities: args.userAssignedIdentityIds ?? [] },
        userData: args.userData,
        hardwareProfile: { vmSize: args.vmSize },
        securityProfile: {
          securityType: "TrustedLaunch",
          uefiSettings: { secureBootEnabled: true, vTpmEnabled: true },
        },
        storageProfile: {
          imageReference: args.imageReference ?? UBUNTU_2404_IMAGE,
          osDisk: {
            createOption: "FromImage",
            caching: "ReadWrite",
            deleteOption: "Delete",
            managedDisk: { storageAccountType: "StandardSSD_LRS" },
          },
        },
        osProfile: {
          computerName: args.computerName,
          adminUsername,
          linuxConfiguration: {
            disablePasswordAuthentication: true,
            provisionVMAgent: true,
            ssh: { publicKeys: [{ path: pulumi.interpolate`/home/${adminUsername}/.ssh/authorized_keys`, keyData: publicKey }] },
            patchSettings: { patchMode: "AutomaticByPlatform", assessmentMode: "AutomaticByPlatform" },
          },
        },
        networkProfile: vmNetworkProfile(name, args.subnetId, args.publicIp),
        diagnosticsProfile: { bootDiagnostics: { enabled: true } },
      },
      // The NIC configuration's name is fixed: the old VM and its NIC go before a replacement makes its own.
      { parent: this, deleteBeforeReplace: true },
    );

    this.vmId = vm.id;
    this.vmName = vm.name;
    this.principalId = systemPrincipalId(vm, kind, this);
    this.userAssignedIdentities = pulumi.output(args.userAssignedIdentityIds ?? []);
    this.tenantId = vm.identity.apply((i) => i?.tenantId ?? "");
    this.adminUsername = adminUsername;
    this.sshPublicKey = publicKey;
    this.sshPrivateKey = privateKey;
    this.adminPassword = privateKey;
    this.registerOutputs({
      vmId: this.vmId,
      vmName: this.vmName,
      principalId: this.principalId,
      userAssignedIdentities: this.userAssignedIdentities,
      tenantId: this.tenantId,
      adminUsername: this.adminUsername,
      sshPublicKey: this.sshPublicKey,
      sshPrivateKey: this.sshPrivateKey,
      adminPassword: this.adminPassword,
    });
  }
}
