import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as resources from "@pulumi/azure-native/resources";
import { LabSettings } from "../settings/validate";
import { IdentityProbe } from "../probe/identityProbe";
import { OutcomeSummary, summarizeOutcome } from "../probe/report";
import { LabNetwork } from "./network";
import { RoleGrant } from "./roleGrant";
import { WindowsVm } from "./windowsVm";

export interface IdentityLabArgs {
  /** Validated settings (settings/validate.ts validateSettings); every default is already filled in. */
  readonly settings: LabSettings;
}

/**
 * Microsoft's tutorial as one component: a resource group, the network, a
 * Windows VM with a system-assigned identity, Reader for that identity on the
 * resource group, and the probe that proves the identity can read it.
 */
export class IdentityLab extends pulumi.ComponentResource {
  // The stack's contract: index.ts exports exactly these, under these names.
  /** Azure name of the lab's resource group (autonamed from `${name}-rg`). */
  public readonly resourceGroupName: pulumi.Output<string>;
  /** Azure name of the VM. */
  public readonly vmName: pulumi.Output<string>;
  /** ARM id of the VM. */
  public readonly vmId: pulumi.Output<string>;
  /** Object id of the VM's system-assigned identity. */
  public readonly principalId: pulumi.Output<string>;
  /** ARM id of the identity's Reader assignment on the resource group. */
  public readonly roleAssignmentId: pulumi.Output<string>;
  public readonly adminUsername: pulumi.Output<string>;
  /** The VM's generated admin password. Secret. */
  public readonly adminPassword: pulumi.Output<string>;
  /** "succeeded", "failed" or "unreadable": the probe's last result as read back now. */
  public readonly probeStatus: pulumi.Output<OutcomeSummary["status"]>;
  /** The resource group as the identity read it through ARM; null unless it could. */
  public readonly probeResourceGroup: pulumi.Output<OutcomeSummary["resourceGroup"]>;
  /** The object id in the identity's token; null without a token. */
  public readonly probeIdentityObjectId: pulumi.Output<OutcomeSummary["identityObjectId"]>;
  /** The identity's permissions on the resource group as ARM lists them; null unless read. */
  public readonly probePermissions: pulumi.Output<OutcomeSummary["permissions"]>;
  /** HTTP requests per endpoint (imds, resourceGroup, permissions); null without a report. */
  public readonly probeAttempts: pulumi.Output<OutcomeSummary["attempts"]>;
  /** How long the probe ran; null without a report. */
  public readonly probeElapsedSeconds: pulumi.Output<OutcomeSummary["elapsedSeconds"]>;
  /** The cause and next step when the probe did not succeed; null when it did. */
  public readonly probeProblem: pulumi.Output<OutcomeSummary["problem"]>;

  /** ARM id of the lab's resource group. */
  public readonly resourceGroupId: pulumi.Output<string>;
  // The children, for tests and for composing; the contract is the flat outputs above.
  public readonly network: LabNetwork;
  public readonly vm: WindowsVm;
  public readonly readerGrant: RoleGrant;
  public readonly probe: IdentityProbe;

  /**
   * @param name Logical name and prefix of every child's name (settings.namePrefix in index.ts).
   * @param args The validated settings.
   * @param opts Options for the component; children get `{ parent: this }`.
   */
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
      },
      { parent: this },
    );

    this.resourceGroupName = rg.name;
    this.resourceGroupId = rg.id;
    this.vmName = this.vm.vmName;
    this.vmId = this.vm.vmId;
    this.principalId = this.vm.principalId;
    this.roleAssignmentId = this.readerGrant.roleAssignmentId;
    this.adminUsername = this.vm.adminUsername;
    this.adminPassword = this.vm.adminPassword;
    const summary = this.probe.outcome.apply(summarizeOutcome);
    this.probeStatus = summary.status;
    this.probeResourceGroup = summary.resourceGroup;
    this.probeIdentityObjectId = summary.identityObjectId;
    this.probePermissions = summary.permissions;
    this.probeAttempts = summary.attempts;
    this.probeElapsedSeconds = summary.elapsedSeconds;
    this.probeProblem = summary.problem;
    this.registerOutputs({
      resourceGroupName: this.resourceGroupName,
      resourceGroupId: this.resourceGroupId,
      vmName: this.vmName,
      vmId: this.vmId,
      principalId: this.principalId,
      roleAssignmentId: this.roleAssignmentId,
      adminUsername: this.adminUsername,
      adminPassword: this.adminPassword,
      probeStatus: this.probeStatus,
      probeResourceGroup: this.probeResourceGroup,
      probeIdentityObjectId: this.probeIdentityObjectId,
      probePermissions: this.probePermissions,
      probeAttempts: this.probeAttempts,
      probeElapsedSeconds: this.probeElapsedSeconds,
      probeProblem: this.probeProblem,
    });
  }
}
