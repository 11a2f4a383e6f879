import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as resources from "@pulumi/azure-native/resources";
import { LabSettings } from "../settings/validate";
import { IdentityProbe } from "../probe/identityProbe";
import { LabNetwork } from "./network";
import { RoleGrant } from "./roleGrant";
import { WindowsVm } from "./windowsVm";

export interface IdentityLabArgs {
  /** Validated settings (lib/config.ts validateSettings). */
  readonly settings: LabSettings;
  /** The probe's PowerShell source. Default: scripts/Invoke-IdentityProbe.ps1. */
  readonly probeScript?: string;
}

/**
 * Microsoft's tutorial as one component: a resource group, the network, a
 * Windows VM with a system-assigned identity, Reader for that identity on the
 * resource group, and the probe that proves the identity can read it.
 */
export class IdentityLab extends pulumi.ComponentResource {
  public readonly resourceGroupName: pulumi.Output<string>;
  public readonly resourceGroupId: pulumi.Output<string>;
  public readonly network: LabNetwork;
  public readonly vm: WindowsVm;
  public readonly readerGrant: RoleGrant;
  public readonly probe: IdentityProbe;

  constructor(name: string, args: IdentityLabArgs, opts?: pulumi.ComponentResourceOptions) {
    super("identitylab:lab:IdentityLab", name, {}, opts);
    const s = args.settings;
    const tags = { ...s.tags, "managed-by": "pulumi", lab: "identity-lab", stack: pulumi.getStack() };

    const rg = new resources.ResourceGroup(`${name}-rg`, { location: s.location, tags }, { parent: this });
    const client = authorization.getClientConfigOutput({ parent: this });

    this.network = new LabNetwork(
      `${name}-net`,
      {
        resourceGroupName: rg.name,
        location: s.location,
        addressSpace: s.vnetAddressSpace,
        subnetPrefix: s.subnetAddressPrefix,
        outboundAccess: s.outboundAccess,
        rdpSourceCidr: s.rdpSourceCidr,
        tags,
      },
      { parent: this },
    );

    this.vm = new WindowsVm(
      name,
      {
        resourceGroupName: rg.name,
        location: s.location,
        subnetId: this.network.subnetId,
        vmSize: s.vmSize,
        imageSku: s.imageSku,
        computerName: s.computerName,
        adminUsername: s.adminUsername,
        hotpatch: s.hotpatch,
        publicIp: s.rdpSourceCidr !== "",
        tags,
      },
      { parent: this },
    );

    this.readerGrant = new RoleGrant(
      `${name}-reader`,
      { scope: rg.id, principalId: this.vm.principalId, subscriptionId: client.subscriptionId },
      { parent: this },
    );

    this.probe = new IdentityProbe(
      `${name}-probe`,
      {
        resourceGroupName: rg.name,
        vmName: this.vm.vmName,
        location: s.location,
        subscriptionId: client.subscriptionId,
        targetResourceGroupName: rg.name,
        armEndpoint: s.armEndpoint,
        deadlineSeconds: s.probeDeadlineSeconds,
        rerunToken: s.probeRerunToken,
        failureMode: s.probeFailureMode,
        waitFor: [this.readerGrant.assignment],
        script: args.probeScript,
      },
      { parent: this },
    );

    this.resourceGroupName = rg.name;
    this.resourceGroupId = rg.id;
    this.registerOutputs({ resourceGroupName: this.resourceGroupName, resourceGroupId: this.resourceGroupId });
  }
}
