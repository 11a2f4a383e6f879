import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as resources from "@pulumi/azure-native/resources";
import * as storage from "@pulumi/azure-native/storage";
import * as random from "@pulumi/random";
import { LabSettings, isTutorialShape } from "../settings/validate";
import type { SetupSettings } from "../settings/schema";
import { IdentityProbe, type ProbeRenderer } from "../probe/identityProbe";
import { OutcomeSummary, summarizeOutcome } from "../probe/report";
import { IdentitySetup, type SetupSummary } from "./identitySetup";
import type { IdentityVm } from "./identityVm";
import { LabNetwork } from "./network";
import { RoleGrant } from "./roleGrant";

export interface IdentityLabArgs {
  /** Validated settings (settings/validate.ts validateSettings); every default is already filled in. */
  readonly settings: LabSettings;
  /** Renders the Windows probe; default renderWindowsProbe (a test's seam for grants mode). */
  readonly renderProbe?: ProbeRenderer;
}

/** The blob container a storageAccount grant's probe lists. */
export const PROBE_CONTAINER = "probe";

/**
 * Windows' computer name for a setup: the setup named "vm" (the tutorial's) takes the computerName setting
 * (default "<namePrefix>-vm"), every other one "<namePrefix>-<setup>", the prefix cut so it fits Windows' 15
 * characters; so no two setups share a name, whatever their order.
 */
export function setupComputerName(settings: LabSettings, setup: SetupSettings): string {
  if (setup.name === "vm") return settings.computerName;
  return `${settings.namePrefix.slice(0, 15 - 1 - setup.name.length).replace(/-+$/, "")}-${setup.name}`;
}

/**
 * A setup's component name: the lab's own for the setup named "vm" (so the tutorial's VM, grant and probe keep
 * their names), "<lab>-<setup>" for the others.
 */
export function setupName(lab: string, setup: SetupSettings): string {
  return setup.name === "vm" ? lab : `${lab}-${setup.name}`;
}

/**
 * Microsoft's tutorial grown to N setups: one resource group, one network, the storage account when a grant
 * needs it, and an IdentitySetup per setup (VM, identities, grants, probe). With default settings it is the
 * tutorial exactly: a Windows VM with a system-assigned identity, Reader on the resource group, and the probe.
 */
export class IdentityLab extends pulumi.ComponentResource {
  // The stack's contract: index.ts exports exactly these, under these names. The tutorial's 14 describe the first setup.
  /** Azure name of the lab's resource group (autonamed from `${name}-rg`). */
  public readonly resourceGroupName: pulumi.Output<string>;
  /** Azure name of the first setup's VM. */
  public readonly vmName: pulumi.Output<string>;
  /** ARM id of the first setup's VM. */
  public readonly vmId: pulumi.Output<string>;
  /** Object id of the first setup's system-assigned identity ("" when it has only a user-assigned one). */
  public readonly principalId: pulumi.Output<string>;
  /** ARM id of the first setup's first role assignment (the tutorial's Reader on the resource group). */
  public readonly roleAssignmentId: pulumi.Output<string>;
  public readonly adminUsername: pulumi.Output<string>;
  /** The first setup's VM's generated admin password. Secret. */
  public readonly adminPassword: pulumi.Output<string>;
  /** "succeeded", "failed" or "unreadable": the first setup's probe's last result as read back now. */
  public readonly probeStatus: pulumi.Output<OutcomeSummary["status"]>;
  /** The resource group as the identity read it through ARM; null unless it could (and in grants mode). */
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
  /** Every setup by name: its VM, identities, probe status, each grant's verdict and the problem. */
  public readonly setups: pulumi.Output<Record<string, SetupSummary>>;

  /** ARM id of the lab's resource group. */
  public readonly resourceGroupId: pulumi.Output<string>;
  // The children, for tests and for composing; the contract is the flat outputs above.
  public readonly network: LabNetwork;
  /** The setups, in the settings' order. */
  public readonly identitySetups: IdentitySetup[];
  /** The stack's storage account, when a grant's scope is storageAccount. */
  public readonly storageAccount?: storage.StorageAccount;
  /** The first setup's VM, grant and probe (the tutorial's). */
  public readonly vm: IdentityVm;
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
        // Only with a Linux setup: the tutorial's NSG keeps exactly its rules.
        ...(s.sshSourceCidr !== "" && s.setups.some((x) => x.os === "linux") ? { sshSourceCidr: s.sshSourceCidr } : {}),
        tags,
      },
      { parent: this },
    );

    let container: storage.BlobContainer | undefined;
    if (s.setups.some((setup) => setup.grants.some((g) => g.scope.kind === "storageAccount"))) {
      // Storage account names are global, 3-24 lowercase letters and digits: the prefix plus a random suffix.
      const suffix = new random.RandomString(`${name}-st-suffix`, { length: 8, upper: false, special: false }, { parent: this });
      this.storageAccount = new storage.StorageAccount(
        `${name}-st`,
        {
          resourceGroupName: rg.name,
          location: s.location,
          accountName: pulumi.interpolate`${name.replace(/-/g, "").slice(0, 12)}st${suffix.result}`,
          kind: "StorageV2",
          sku: { name: "Standard_LRS" },
          enableHttpsTrafficOnly: true,
          minimumTlsVersion: "TLS1_2",
          allowBlobPublicAccess: false,
          // Entra ID only: the identities prove data access with their tokens, never with a key.
          allowSharedKeyAccess: false,
          tags,
        },
        { parent: this },
      );
      container = new storage.BlobContainer(
        `${name}-probe-container`,
        { resourceGroupName: rg.name, accountName: this.storageAccount.name, containerName: PROBE_CONTAINER, publicAccess: "None" },
        { parent: this },
      );
    }

    this.identitySetups = s.setups.map(
      (setup) =>
        new IdentitySetup(
          setupName(name, setup),
          {
            resourceGroupName: rg.name,
            resourceGroupId: rg.id,
            location: s.location,
            subnetId: this.network.subnetId,
            subscriptionId: client.subscriptionId,
            os: setup.os,
            identity: setup.identity,
            userAssignedIdentityId: setup.userAssignedIdentityId || undefined,
            grants: setup.grants,
            tutorialMode: isTutorialShape(setup),
            storageAccountId: this.storageAccount?.id,
            storageAccountName: this.storageAccount?.name,
            containerName: container?.name,
            cloud: s.cloud,
            vmSize: setup.vmSize || s.vmSize,
            imageSku: s.imageSku,
            computerName: setupComputerName(s, setup),
            adminUsername: s.adminUsername,
            hotpatch: s.hotpatch,
            publicIp: setup.os === "linux" ? s.sshSourceCidr !== "" : s.rdpSourceCidr !== "",
            sshPublicKey: s.sshPublicKey,
            tags,
            armEndpoint: s.armEndpoint,
            deadlineSeconds: s.probeDeadlineSeconds,
            rerunToken: s.probeRerunToken,
            failureMode: s.probeFailureMode,
            failOnOverPrivilege: s.failOnOverPrivilege,
            // The tutorial's VM, grant and probe were the lab's own children.
            formerParent: setup.name === "vm" ? this : undefined,
            renderProbe: args.renderProbe,
          },
          { parent: this },
        ),
    );
    const first = this.identitySetups[0];
    this.vm = first.vm;
    this.readerGrant = first.grants[0];
    this.probe = first.probe;

    this.resourceGroupName = rg.name;
    this.resourceGroupId = rg.id;
    this.vmName = first.vmName;
    this.vmId = first.vmId;
    this.principalId = first.principalId;
    this.roleAssignmentId = first.grants[0].roleAssignmentId;
    this.adminUsername = first.adminUsername;
    this.adminPassword = first.adminPassword;
    const summary = this.probe.outcome.apply(summarizeOutcome);
    this.probeStatus = summary.status;
    this.probeResourceGroup = summary.resourceGroup;
    this.probeIdentityObjectId = summary.identityObjectId;
    this.probePermissions = summary.permissions;
    this.probeAttempts = summary.attempts;
    this.probeElapsedSeconds = summary.elapsedSeconds;
    this.probeProblem = summary.problem;
    // One shallow combine of per-setup outputs: each setup registered its own summary, and nothing here walks
    // all setups' values more than once (bench/setups.ts).
    this.setups = pulumi.all(Object.fromEntries(s.setups.map((setup, i) => [setup.name, this.identitySetups[i].summary])));
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
      setups: this.setups,
    });
  }
}
