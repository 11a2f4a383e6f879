import * as pulumi from "@pulumi/pulumi";
import * as compute from "@pulumi/azure-native/compute";
import {
  probeForceUpdateTag,
  readProbeScript,
  renderWindowsProbe,
  type GrantProbeSpec,
  type ProbeParameters,
  type WindowsProbeDelivery,
} from "./command";
import { gateUpdate, lastRunOf } from "./gate";
import { foldVerdicts, judgeTutorial, readGrantsOutcome, type GrantIntent, type GrantVerdict, type JudgedOutcome } from "./grants";
import { LINUX_CSE, renderLinuxProbe } from "./linuxCommand";
import { ProbeOutcome, readProbeOutcome } from "./report";
import type { ProbeFailureMode } from "../settings/validate";

export interface IdentityProbeArgs {
  /** Resource group of the VM. */
  readonly resourceGroupName: pulumi.Input<string>;
  /** Azure name of the VM that runs the probe. */
  readonly vmName: pulumi.Input<string>;
  /** Azure region of the VM (the extension's location). */
  readonly location: pulumi.Input<string>;
  /** Subscription that holds the target resource group. */
  readonly subscriptionId: pulumi.Input<string>;
  /** The resource group the probe reads through ARM with the VM's identity. */
  readonly targetResourceGroupName: pulumi.Input<string>;
  /** ARM endpoint of the provider's cloud, trailing slash included; also the token's audience. */
  readonly armEndpoint: pulumi.Input<string>;
  /** The probe keeps retrying (RBAC propagation) until this many seconds, then reports. */
  readonly deadlineSeconds: pulumi.Input<number>;
  /** Change it to rerun an unchanged probe. Default: "" (rerun only when the script or its parameters change). */
  readonly rerunToken?: pulumi.Input<string>;
  /**
   * "fail": a failed or unreadable result of a run in this update fails the update with its
   * cause, and an older one (the probe did not rerun) is a warning; "report": it is only reported.
   */
  readonly failureMode: pulumi.Input<ProbeFailureMode>;
  /**
   * Resources the probe needs in place before it runs: the role assignment. Without
   * it the probe would race the grant and wait out RBAC for nothing, or fail.
   */
  readonly waitFor: pulumi.Input<pulumi.Resource>[];
  /** Grants mode (setups-design §3): what to prove per grant. Default: [] (tutorial mode). */
  readonly grants?: pulumi.Input<GrantProbeSpec[]>;
  /** What each grant was meant to give, for the judge (probe/grants.ts); tutorial mode: its one grant. Default: none judged. */
  readonly intents?: pulumi.Input<GrantIntent[]>;
  /** Over-privilege fails the update like a failed probe (true), or is a warning (false, the default). */
  readonly failOnOverPrivilege?: pulumi.Input<boolean>;
  /**
   * The probe's delivery, when the caller rendered it already (probeDelivery) to give the VM its userData;
   * default: rendered here.
   */
  readonly delivery?: pulumi.Input<WindowsProbeDelivery>;
  /**
   * The VM's OS: windows (default) runs the PowerShell probe through CustomScriptExtension 1.10; linux runs
   * scripts/identity-probe.sh through Microsoft.Azure.Extensions/CustomScript 2.1 (probe/linuxCommand.ts).
   */
  readonly os?: "windows" | "linux";
}

/** Renders the probe for a Windows VM: renderWindowsProbe, or a stand-in (a test's seam). */
export type ProbeRenderer = (script: string, params: ProbeParameters, grants: readonly GrantProbeSpec[]) => WindowsProbeDelivery;

/** The probe's parameters as the script takes them. */
function probeParameters(args: Pick<IdentityProbeArgs, "subscriptionId" | "targetResourceGroupName" | "armEndpoint" | "deadlineSeconds">) {
  return pulumi
    .all([args.subscriptionId, args.targetResourceGroupName, args.armEndpoint, args.deadlineSeconds])
    .apply(([subscriptionId, resourceGroupName, armEndpoint, deadlineSeconds]): ProbeParameters => ({
      subscriptionId,
      resourceGroupName,
      armEndpoint,
      deadlineSeconds,
    }));
}

/**
 * The probe's commandToExecute, and its userData when it does not fit inline: computed before the VM exists,
 * because the userData is an input of the VM (setups-design §4).
 */
export function probeDelivery(
  args: Pick<IdentityProbeArgs, "subscriptionId" | "targetResourceGroupName" | "armEndpoint" | "deadlineSeconds" | "grants">,
  render: ProbeRenderer = renderWindowsProbe,
  script: string = readProbeScript(),
): pulumi.Output<WindowsProbeDelivery> {
  return pulumi.all([probeParameters(args), args.grants ?? []]).apply(([p, grants]) => render(script, p, grants));
}

/**
 * Runs the PowerShell probe on the VM through the Custom Script Extension and
 * reads its report back from the extension's instance view.
 *
 * A VM takes one Custom Script Extension, and it reruns only when its settings
 * or forceUpdateTag change. The probe always exits 0 after reporting, so the
 * extension (and Pulumi's state) ends Succeeded even when the identity could
 * not read; whether that fails the update is decided here (probe/gate.ts), from
 * the report and from whether this update ran the probe.
 */
export class IdentityProbe extends pulumi.ComponentResource {
  public readonly extension: compute.VirtualMachineExtension;
  /** What the probe reported, read back from the extension's instance view on every preview and update. */
  public readonly outcome: pulumi.Output<ProbeOutcome>;
  /** Each grant's verdict (proven, missing, overPrivileged); empty when no intents were given. */
  public readonly verdicts: pulumi.Output<GrantVerdict[]>;
  /**
   * Rejects with a ResourceError, failing the update, when failureMode is "fail" and this
   * update's run of the probe failed or is unreadable; otherwise resolves to nothing (warning
   * when it had to let an older failure pass). Nothing consumes it, so the rejection is uncaught
   * by design: the Node.js runtime prints its message against this resource and exits non-zero
   * (pulumi.log.error alone would not fail `pulumi up`). It is no fact about the lab, so it
   * stays out of registerOutputs and off the stack outputs.
   */
  public readonly failure: pulumi.Output<void>;

  /**
   * @param name Logical name; the extension is `${name}-extension`, its Azure name always "identity-probe".
   * @param args The VM, the target and how a failure is handled.
   * @param opts Options for the component; children get `{ parent: this }`.
   */
  constructor(name: string, args: IdentityProbeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("identitylab:compute:IdentityProbe", name, {}, opts);
    // The extension is registered after this, so a run of this update reports a later time.
    const startedAtMs = Date.now();
    const script = readProbeScript();

    const params = probeParameters(args);
    const grants = pulumi.output(args.grants ?? []);
    const delivery = args.delivery ? pulumi.output(args.delivery) : probeDelivery(args, renderWindowsProbe, script);
    const commandToExecute = delivery.apply((d) => d.commandToExecute);
    // The tutorial's tag stays as it was; grants ride in the rerun token's place, so a change of grants reruns.
    const forceUpdateTag = pulumi
      .all([params, args.rerunToken ?? "", grants])
      .apply(([p, token, g]) => probeForceUpdateTag(script, p, g.length === 0 ? token : `${token}|grants:${JSON.stringify(g)}`));

    const settings =
      args.os === "linux"
        ? pulumi.all([params, grants, forceUpdateTag]).apply(([p, g, tag]) => {
            const linux = renderLinuxProbe({
              SubscriptionId: p.subscriptionId,
              ResourceGroupName: p.resourceGroupName,
              ArmEndpoint: p.armEndpoint,
              DeadlineSeconds: Math.trunc(p.deadlineSeconds),
              ...(g.length > 0 ? { Grants: JSON.stringify(g) } : {}),
            });
            // The rerun token is not in the script: the tag covers both, so either change reruns the extension.
            return { protectedSettings: linux.protectedSettings, forceUpdateTag: `${tag.slice(0, 16)}${linux.forceUpdateTag}` };
          })
        : undefined;
    this.extension = new compute.VirtualMachineExtension(
      `${name}-extension`,
      {
        resourceGroupName: args.resourceGroupName,
        vmName: args.vmName,
        location: args.location,
        vmExtensionName: "identity-probe",
        ...(settings
          ? {
              publisher: LINUX_CSE.publisher,
              type: LINUX_CSE.type,
              typeHandlerVersion: LINUX_CSE.typeHandlerVersion,
              autoUpgradeMinorVersion: true,
              forceUpdateTag: settings.apply((x) => x.forceUpdateTag),
              // Secret: the script names the subscription and resource group, as the Windows command does.
              protectedSettings: pulumi.secret(settings.apply((x) => x.protectedSettings)),
            }
          : {
              publisher: "Microsoft.Compute",
              type: "CustomScriptExtension",
              typeHandlerVersion: "1.10",
              autoUpgradeMinorVersion: true,
              forceUpdateTag,
              // Secret: the command names the subscription and resource group, and
              // protectedSettings is never returned by ARM, so the state must keep it sealed too.
              protectedSettings: pulumi.secret(commandToExecute.apply((c) => ({ commandToExecute: c }))),
            }),
      },
      {
        parent: this,
        dependsOn: args.waitFor,
        // The extension's provisioning spans the probe's whole deadline.
        customTimeouts: { create: "100m", update: "100m" },
      },
    );

    const view = compute.getVirtualMachineExtensionOutput(
      {
        resourceGroupName: args.resourceGroupName,
        vmName: args.vmName,
        // Through the extension's own name, so the read waits for the run it reports on.
        vmExtensionName: this.extension.name,
        expand: "instanceView",
      },
      { parent: this },
    );

    const judged: pulumi.Output<JudgedOutcome> = pulumi
      .all([view, args.targetResourceGroupName, grants, args.intents ?? [], args.failOnOverPrivilege ?? false])
      .apply(([v, rg, g, intents, failOnOverPrivilege]) => {
        if (g.length > 0) return readGrantsOutcome(v.instanceView, intents, failOnOverPrivilege);
        const outcome = readProbeOutcome(v.instanceView, rg);
        return foldVerdicts(
          outcome,
          intents.map((i) => judgeTutorial(i, outcome)),
          failOnOverPrivilege,
        );
      });
    this.outcome = judged.outcome;
    this.verdicts = judged.verdicts;
    // Every resource is already created by the time the read-back resolves.
    this.failure = pulumi.all([view, judged, args.failureMode]).apply(([v, { outcome, warning }, failureMode]) => {
      if (warning !== null) void pulumi.log.warn(warning, this);
      const gate = gateUpdate({
        outcome,
        failureMode,
        preview: pulumi.runtime.isDryRun(),
        lastRun: lastRunOf(v.instanceView),
        updateStartedAtMs: startedAtMs,
      });
      if (gate.action === "warn") void pulumi.log.warn(gate.message, this);
      if (gate.action === "fail") throw new pulumi.ResourceError(gate.message, this, true);
    });
    this.registerOutputs({ outcome: this.outcome, verdicts: this.verdicts });
  }
}
