import * as pulumi from "@pulumi/pulumi";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import { IdentityProbe, probeDelivery, type ProbeRenderer } from "../probe/identityProbe";
import { buildGrantSpecs, resolveScope, type GrantIntent, type GrantVerdict } from "../probe/grants";
import { renderWindowsProbe } from "../probe/command";
import { summarizeOutcome, type OutcomeSummary } from "../probe/report";
import type { AzureCloud, GrantSettings, IdentityKind, ProbeFailureMode, SetupOs } from "../settings/schema";
import type { IdentityVm } from "./identityVm";
import { RoleGrant } from "./roleGrant";
import { LinuxVm } from "./linuxVm";
import { WindowsVm } from "./windowsVm";

export interface IdentitySetupArgs {
  /** Resource group of the VM and its identity. */
  readonly resourceGroupName: pulumi.Input<string>;
  /** ARM id of that group: the `resourceGroup` scope. */
  readonly resourceGroupId: pulumi.Input<string>;
  readonly location: pulumi.Input<string>;
  readonly subnetId: pulumi.Input<string>;
  readonly subscriptionId: pulumi.Input<string>;
  /** The VM's OS; only "windows" is built until components/linuxVm.ts lands (validation refuses linux). */
  readonly os: SetupOs;
  readonly identity: IdentityKind;
  /** An existing user-assigned identity's ARM id; absent: the setup creates one when `identity` needs it. */
  readonly userAssignedIdentityId?: string;
  /** The grants, validated (settings/setups.ts): role GUID, scope, identity, condition. */
  readonly grants: readonly GrantSettings[];
  /** Tutorial mode: the probe reads the resource group as the tutorial does, with no -Grants. */
  readonly tutorialMode: boolean;
  /** The stack's storage account, for grants whose scope is storageAccount. */
  readonly storageAccountId?: pulumi.Input<string>;
  readonly storageAccountName?: pulumi.Input<string>;
  /** The blob container a blob proof lists ("probe"). */
  readonly containerName?: pulumi.Input<string>;
  readonly cloud: AzureCloud;
  readonly vmSize: pulumi.Input<string>;
  readonly imageSku: pulumi.Input<string>;
  readonly computerName: pulumi.Input<string>;
  readonly adminUsername: pulumi.Input<string>;
  readonly hotpatch: pulumi.Input<boolean>;
  /** A public IP on the VM, for the opted-in RDP rule. */
  readonly publicIp: boolean;
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  readonly armEndpoint: pulumi.Input<string>;
  readonly deadlineSeconds: pulumi.Input<number>;
  readonly rerunToken?: pulumi.Input<string>;
  readonly failureMode: pulumi.Input<ProbeFailureMode>;
  readonly failOnOverPrivilege: pulumi.Input<boolean>;
  /**
   * Where this setup's children lived before setups existed (the lab itself, for the tutorial's setup): they
   * get an alias with that parent, so `pulumi up` keeps them instead of replacing them.
   */
  readonly formerParent?: pulumi.Resource;
  /** Renders the Windows probe; default renderWindowsProbe (tests pass a stand-in for grants mode). */
  readonly renderProbe?: ProbeRenderer;
  /** Linux: the admin's OpenSSH public key; absent or empty, LinuxVm generates an Ed25519 key (a secret output). */
  readonly sshPublicKey?: string;
}

/** One setup as the stack's `setups` output reports it. */
export interface SetupSummary {
  readonly vmName: string;
  readonly os: SetupOs;
  /** Object ids of the VM's identities; null for the one it does not have. */
  readonly principalIds: { readonly systemAssigned: string | null; readonly userAssigned: string | null };
  readonly status: OutcomeSummary["status"];
  /** Each grant's verdict, in grant order. */
  readonly grants: GrantVerdict[];
  /** Why the probe did not succeed and what to do next; null when it did. */
  readonly problem: OutcomeSummary["problem"];
}

/** The child's name for a grant: the tutorial's Reader keeps its name, others are numbered. */
function grantName(name: string, index: number, tutorialMode: boolean): string {
  return tutorialMode ? `${name}-reader` : `${name}-grant${index}`;
}

/**
 * One setup (setups-design §2): its user-assigned identity (created or existing), its role grants, its VM
 * and the probe that proves every grant from that VM. A grant to the user-assigned identity depends only on
 * that identity, so Azure creates it while the VM is built; a grant to the system-assigned identity waits for
 * the VM's principal id. The probe waits for every grant.
 */
export class IdentitySetup extends pulumi.ComponentResource {
  public readonly vm: IdentityVm;
  public readonly grants: RoleGrant[];
  public readonly probe: IdentityProbe;
  /** The user-assigned identity the setup created; undefined when it uses an existing one or none. */
  public readonly userAssignedIdentity?: managedidentity.UserAssignedIdentity;
  public readonly vmName: pulumi.Output<string>;
  public readonly vmId: pulumi.Output<string>;
  /** Object id of the system-assigned identity; "" when the VM has none. */
  public readonly principalId: pulumi.Output<string>;
  /** Object id of the user-assigned identity; "" when there is none. */
  public readonly userAssignedPrincipalId: pulumi.Output<string>;
  /** client_id of the user-assigned identity (what IMDS is asked for); "" when there is none. */
  public readonly userAssignedClientId: pulumi.Output<string>;
  /** ARM ids of the role assignments, in grant order. */
  public readonly roleAssignmentIds: pulumi.Output<string[]>;
  public readonly adminUsername: pulumi.Output<string>;
  /** Secret. */
  public readonly adminPassword: pulumi.Output<string>;
  /** The stack's summary of this setup (`setups` output). */
  public readonly summary: pulumi.Output<SetupSummary>;

  /**
   * @param name Logical name and prefix of every child's name (the lab's name for the tutorial's setup).
   * @param args The setup and the stack it goes into.
   * @param opts Options for the component; children get `{ parent: this }`.
   */
  constructor(name: string, args: IdentitySetupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("identitylab:setup:IdentitySetup", name, {}, opts);
    const moved = (): pulumi.CustomResourceOptions => ({
      parent: this,
      ...(args.formerParent ? { aliases: [{ parent: args.formerParent }] } : {}),
    });
    const needsUami = args.identity !== "systemAssigned";

    let uamiId: pulumi.Output<string> | undefined;
    let uamiPrincipal = pulumi.output("");
    let uamiClient = pulumi.output("");
    if (needsUami && args.userAssignedIdentityId) {
      const id = args.userAssignedIdentityId;
      // "/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>"
      const [, , , , resourceGroupName, , , , resourceName] = id.split("/");
      const existing = managedidentity.getUserAssignedIdentityOutput({ resourceGroupName, resourceName }, { parent: this });
      uamiId = pulumi.output(id);
      uamiPrincipal = existing.principalId;
      uamiClient = existing.clientId;
    } else if (needsUami) {
      this.userAssignedIdentity = new managedidentity.UserAssignedIdentity(
        `${name}-identity`,
        { resourceGroupName: args.resourceGroupName, location: args.location, tags: args.tags },
        { parent: this },
      );
      uamiId = this.userAssignedIdentity.id;
      uamiPrincipal = this.userAssignedIdentity.principalId;
      uamiClient = this.userAssignedIdentity.clientId;
    }

    const context = pulumi
      .all([
        args.subscriptionId,
        args.resourceGroupId,
        args.storageAccountId ?? "",
        args.storageAccountName ?? "",
        args.containerName ?? "",
        uamiClient,
      ])
      .apply(([subscriptionId, resourceGroupId, storageAccountId, storageAccountName, containerName, userAssignedClientId]) => ({
        subscriptionId,
        resourceGroupId,
        storageAccountId,
        storageAccountName,
        containerName,
        userAssignedClientId,
        cloud: args.cloud,
      }));
    const specs = context.apply((c) =>
      buildGrantSpecs(
        { name, os: args.os, identity: args.identity, userAssignedIdentityId: "", vmSize: "", grants: args.grants },
        c,
        args.tutorialMode,
      ),
    );
    const probeArgs = {
      subscriptionId: args.subscriptionId,
      targetResourceGroupName: args.resourceGroupName,
      armEndpoint: args.armEndpoint,
      deadlineSeconds: args.deadlineSeconds,
      grants: specs,
    };
    const delivery = probeDelivery(probeArgs, args.renderProbe ?? renderWindowsProbe);

    // Before the VM: these grants depend on the user-assigned identity alone.
    const scopes = args.grants.map((g) => context.apply((c) => resolveScope(g.scope, c)));
    const grant = (g: GrantSettings, j: number, principalId: pulumi.Input<string>) =>
      new RoleGrant(
        grantName(name, j, args.tutorialMode),
        {
          scope: scopes[j],
          principalId,
          subscriptionId: args.subscriptionId,
          roleDefinitionGuid: g.roleDefinitionGuid,
          ...(g.condition !== "" ? { condition: g.condition, conditionVersion: g.conditionVersion } : {}),
        },
        moved(),
      );
    const grants: Array<RoleGrant | undefined> = args.grants.map((g, j) =>
      g.identity === "userAssigned" ? grant(g, j, uamiPrincipal) : undefined,
    );

    const vmArgs = {
      resourceGroupName: args.resourceGroupName,
      location: args.location,
      subnetId: args.subnetId,
      vmSize: args.vmSize,
      computerName: args.computerName,
      adminUsername: args.adminUsername,
      publicIp: args.publicIp,
      tags: args.tags,
      identity: args.identity,
      ...(uamiId ? { userAssignedIdentityIds: [uamiId] } : {}),
    };
    this.vm =
      args.os === "linux"
        ? // The sh probe carries its grants in the extension's script: no userData.
          new LinuxVm(name, { ...vmArgs, sshPublicKey: args.sshPublicKey || undefined }, moved())
        : new WindowsVm(
            name,
            {
              ...vmArgs,
              imageSku: args.imageSku,
              hotpatch: args.hotpatch,
              // The tutorial's VM keeps its inputs; grants mode's probe may ride in userData (setups-design §4).
              ...(args.tutorialMode ? {} : { userData: delivery.apply((d) => d.userData) }),
            },
            moved(),
          );
    args.grants.forEach((g, j) => {
      if (g.identity === "systemAssigned") grants[j] = grant(g, j, this.vm.principalId);
    });
    this.grants = grants as RoleGrant[];

    const intents: pulumi.Output<GrantIntent[]> = pulumi
      .all([specs, scopes, this.vm.principalId, uamiPrincipal])
      .apply(([s, resolved, system, user]) =>
        args.grants.map((g, j) => ({
          n: `g${j}`,
          role: g.roleName || g.roleDefinitionGuid,
          roleDefinitionGuid: g.roleDefinitionGuid,
          scope: resolved[j],
          identity: g.identity,
          principalId: g.identity === "userAssigned" ? user : system,
          blob: s[j]?.k === "blob",
        })),
      );

    this.probe = new IdentityProbe(
      `${name}-probe`,
      {
        ...probeArgs,
        resourceGroupName: args.resourceGroupName,
        vmName: this.vm.vmName,
        location: args.location,
        rerunToken: args.rerunToken,
        failureMode: args.failureMode,
        failOnOverPrivilege: args.failOnOverPrivilege,
        intents,
        delivery,
        os: args.os,
        waitFor: this.grants.map((g) => g.assignment),
      },
      moved(),
    );

    this.vmName = this.vm.vmName;
    this.vmId = this.vm.vmId;
    this.principalId = this.vm.principalId;
    this.userAssignedPrincipalId = uamiPrincipal;
    this.userAssignedClientId = uamiClient;
    this.roleAssignmentIds = pulumi.all(this.grants.map((g) => g.roleAssignmentId));
    this.adminUsername = this.vm.adminUsername;
    this.adminPassword = this.vm.adminPassword;
    this.summary = pulumi
      .all([this.vmName, this.principalId, uamiPrincipal, this.probe.outcome, this.probe.verdicts])
      .apply(([vmName, system, user, outcome, verdicts]) => {
        const s = summarizeOutcome(outcome);
        return {
          vmName,
          os: args.os,
          principalIds: { systemAssigned: system || null, userAssigned: user || null },
          status: s.status,
          grants: verdicts,
          problem: s.problem,
        };
      });
    this.registerOutputs({
      vmName: this.vmName,
      vmId: this.vmId,
      principalId: this.principalId,
      userAssignedPrincipalId: this.userAssignedPrincipalId,
      userAssignedClientId: this.userAssignedClientId,
      roleAssignmentIds: this.roleAssignmentIds,
      adminUsername: this.adminUsername,
      adminPassword: this.adminPassword,
      summary: this.summary,
    });
  }
}
