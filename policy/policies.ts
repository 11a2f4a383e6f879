/**
 * The identity lab's guardrails as @pulumi/policy policies. The pack itself (index.ts)
 * only wires these to a PolicyPack; tests call them directly.
 *
 * Two kinds:
 * - resource policies see one resource's inputs before it is created or updated (`validateResource`);
 * - stack policies see every resource with its parent chain after the program ran (`validateStack`);
 *   the allowance policies are stack policies because an allowance names a setup, and only the
 *   parent chain carries the names of a resource's ancestors (a URN carries their types only).
 *
 * Unknown values: at preview @pulumi/policy wraps props in a proxy that throws UnknownValueError
 * on a value not yet known, and reports the whole policy run for that resource (for a stack
 * policy: the whole stack) as an advisory "can't run policy ... during preview". eachKnown below
 * keeps one unknown from hiding the verdicts on everything else: every known item is still
 * checked and reported, then the first unknown is rethrown so the advisory still appears.
 */
import type {
  EnforcementLevel,
  PolicyConfigSchema,
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { UnknownValueError } from "@pulumi/policy";
import { ruleProblems, RuleLike } from "./netRules";
import {
  Ancestor,
  BUILT_IN_ROLES,
  PRIVILEGED_ROLES,
  classifyScope,
  insideLab,
  isAboveResourceGroup,
  isAzureType,
  roleGuidFromName,
  roleGuidOf,
  roleLabel,
  setupOf,
} from "./scope";

export const POLICY = {
  noAssignmentAboveSubscription: "no-role-assignment-above-subscription",
  noPrivilegedRoleAboveResourceGroup: "mi-no-privileged-role-above-resource-group",
  grantAboveResourceGroupNeedsAllowance: "mi-grant-above-resource-group-needs-allowance",
  principalTypeServicePrincipal: "mi-role-assignment-principal-type",
  noOpenManagementPorts: "nsg-no-management-ports-from-wide-sources",
  vmHasIdentity: "vm-has-managed-identity",
  vmDeletesItsResources: "vm-resources-deleted-with-vm",
  vmTrustedLaunch: "vm-trusted-launch",
  vmLinuxNoPassword: "vm-linux-no-password-authentication",
} as const;

export type PolicyName = (typeof POLICY)[keyof typeof POLICY];
export const POLICY_NAMES: readonly PolicyName[] = Object.values(POLICY);

/** Policies whose level no configuration may lower below mandatory (see config.ts). */
export const NEVER_OVERRIDABLE: readonly PolicyName[] = [POLICY.noAssignmentAboveSubscription];

/** Run `check` on every item; a value unknown at preview skips only its item, then is rethrown. */
export function eachKnown<T>(items: Iterable<T>, check: (item: T) => void): void {
  let unknown: UnknownValueError | undefined;
  for (const item of items) {
    try {
      check(item);
    } catch (e) {
      if (!(e instanceof UnknownValueError)) throw e;
      unknown ??= e;
    }
  }
  if (unknown) throw unknown;
}

/** A value, or `fallback` when it is unknown at preview. */
function ifKnown<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof UnknownValueError) return fallback;
    throw e;
  }
}

/** An allowance from a policy's config: this setup may hold this role at this scope kind. */
export interface Allowance {
  readonly setup: string;
  /** A built-in role name from BUILT_IN_ROLES or a role definition GUID. */
  readonly role: string;
  /** Only "subscription": nothing can allow a grant at management-group, tenant or root scope. */
  readonly scope: "subscription";
}

export interface AllowanceConfig {
  readonly allowances?: readonly Allowance[];
}

type PolicyConfigJSONSchema = PolicyConfigSchema["properties"][string];

const allowanceSchema = {
  allowances: {
    type: "array",
    description:
      'Grants this policy lets through, per setup: [{"setup": "<setup name>", "role": "Reader" | "<role definition GUID>", "scope": "subscription"}].',
    default: [],
    items: {
      type: "object",
      properties: {
        setup: {
          type: "string",
          minLength: 1,
          description:
            "Logical name of the IdentitySetup: namePrefix for the setup named vm (the tutorial's), <namePrefix>-<setup name> for the others.",
        },
        role: {
          type: "string",
          minLength: 1,
          description: `A built-in role name (${Object.keys(BUILT_IN_ROLES).join(", ")}) or a role definition GUID.`,
        },
        scope: { type: "string", enum: ["subscription"] },
      },
      required: ["setup", "role", "scope"],
      additionalProperties: false,
    },
  },
} satisfies Record<string, PolicyConfigJSONSchema>;

/** Allowances with their role resolved to a GUID; a clear error naming the key and the rule otherwise. */
export function readAllowances(policy: PolicyName, config: AllowanceConfig | undefined): { setup: string; guid: string; scope: string }[] {
  const list = config?.allowances ?? [];
  if (!Array.isArray(list)) throw new Error(`${policy}.allowances: must be a list of {setup, role, scope}.`);
  return list.map((a, i) => {
    const key = `${policy}.allowances[${i}]`;
    if (!a || typeof a !== "object") throw new Error(`${key}: must be an object {setup, role, scope}.`);
    if (typeof a.setup !== "string" || a.setup === "") throw new Error(`${key}.setup: must name a setup.`);
    if (a.scope !== "subscription")
      throw new Error(
        `${key}.scope: "${String(a.scope)}" is not allowed; only "subscription" can be allowed (never management group, tenant or root).`,
      );
    const guid = typeof a.role === "string" ? roleGuidFromName(a.role) : undefined;
    if (!guid)
      throw new Error(
        `${key}.role: "${String(a.role)}" is neither a built-in role name (${Object.keys(BUILT_IN_ROLES).join(", ")}) nor a role definition GUID.`,
      );
    return { setup: a.setup, guid, scope: a.scope };
  });
}

/** A resource's ancestors, nearest first, from the parent chain a stack policy sees. */
export function ancestorsOf(resource: Pick<PolicyResource, "parent">): Ancestor[] {
  const chain: Ancestor[] = [];
  const seen = new Set<unknown>();
  for (let p = resource.parent; p && !seen.has(p); p = p.parent) {
    seen.add(p);
    chain.push({ type: p.type, name: p.name });
  }
  return chain;
}

const MANAGED_IDENTITY_HOLDERS: readonly [string, string][] = [
  ["compute", "VirtualMachine"],
  ["compute", "VirtualMachineScaleSet"],
  ["managedidentity", "UserAssignedIdentity"],
];
const holdsManagedIdentity = (type: string) => MANAGED_IDENTITY_HOLDERS.some(([m, r]) => isAzureType(type, m, r));

/**
 * Principal ids of the stack's managed identities, where known (after `up`): a VM's or
 * scale set's identity.principalId and a user-assigned identity's principalId.
 */
function managedIdentityPrincipals(resources: readonly PolicyResource[]): Set<string> {
  const ids = new Set<string>();
  for (const r of resources) {
    if (!holdsManagedIdentity(r.type)) continue;
    const id = ifKnown(
      () => (isAzureType(r.type, "managedidentity", "UserAssignedIdentity") ? r.props.principalId : r.props.identity?.principalId),
      undefined,
    );
    if (typeof id === "string" && id) ids.add(id.toLowerCase());
  }
  return ids;
}

/**
 * Whether a role assignment grants to a managed identity: it is inside one of the lab's
 * components (their RoleGrant grants only to managed identities), or its principalId comes
 * from a VM, scale set or user-assigned identity (property dependency), or equals the known
 * principal id of one of those.
 */
function grantsToManagedIdentity(ra: PolicyResource, ancestors: readonly Ancestor[], principals: Set<string>): boolean {
  if (insideLab(ra.urn, ancestors)) return true;
  if ((ra.propertyDependencies?.principalId ?? []).some((d) => holdsManagedIdentity(d.type))) return true;
  const principal = ifKnown(() => ra.props.principalId, undefined);
  return typeof principal === "string" && principals.has(principal.toLowerCase());
}

const isRoleAssignment = (type: string) => isAzureType(type, "authorization", "RoleAssignment");

/**
 * Shared walk of the stack policies over role assignments to managed identities above a
 * resource group. `judge` returns a violation message or undefined.
 */
function validateGrantsAboveResourceGroup(
  args: StackValidationArgs,
  report: ReportViolation,
  judge: (grant: { setup?: string; guid?: string; kind: string; scope: string }) => string | undefined,
): void {
  const principals = managedIdentityPrincipals(args.resources);
  eachKnown(
    args.resources.filter((r) => isRoleAssignment(r.type)),
    (ra) => {
      const ancestors = ancestorsOf(ra);
      if (!grantsToManagedIdentity(ra, ancestors, principals)) return;
      const scope = String(ra.props.scope);
      const kind = classifyScope(scope);
      if (!isAboveResourceGroup(kind)) return;
      const message = judge({ setup: setupOf(ancestors), guid: roleGuidOf(String(ra.props.roleDefinitionId)), kind, scope });
      if (message) report(message, ra.urn);
    },
  );
}

function allowanceHint(policy: PolicyName, setup: string | undefined, guid: string | undefined): string {
  const role = Object.entries(BUILT_IN_ROLES).find(([, id]) => id === guid)?.[0] ?? guid ?? "<role>";
  return `If this grant is intended, add {"setup": "${setup ?? "<setup>"}", "role": "${role}", "scope": "subscription"} to ${policy}.allowances in the policy pack's config.`;
}

export const noAssignmentAboveSubscription: ResourceValidationPolicy = {
  name: POLICY.noAssignmentAboveSubscription,
  description: "No role assignment at management-group, tenant or root scope; no configuration can allow one.",
  enforcementLevel: "mandatory",
  severity: "critical",
  validateResource: (args, report) => {
    if (!isRoleAssignment(args.type)) return;
    const scope = String(args.props.scope);
    const kind = classifyScope(scope);
    if (kind === "root" || kind === "tenant" || kind === "managementGroup")
      report(`Role assignment at ${kind} scope "${scope}": assignments above a subscription are never allowed here.`);
    else if (kind === "unrecognised")
      report(
        `Role assignment scope "${scope}" is not an ARM scope this pack recognises, so it cannot be shown to be below a management group.`,
      );
  },
};

export const noPrivilegedRoleAboveResourceGroup: StackValidationPolicy = {
  name: POLICY.noPrivilegedRoleAboveResourceGroup,
  description:
    "No Owner, Contributor, User Access Administrator or Role Based Access Control Administrator for a managed identity above resource-group scope, unless allowed for its setup.",
  enforcementLevel: "mandatory",
  severity: "critical",
  configSchema: { properties: allowanceSchema },
  validateStack: (args, report) => {
    const allowed = readAllowances(POLICY.noPrivilegedRoleAboveResourceGroup, args.getConfig<AllowanceConfig>());
    validateGrantsAboveResourceGroup(args, report, ({ setup, guid, kind, scope }) => {
      if (!guid || !PRIVILEGED_ROLES.includes(guid)) return undefined;
      if (kind === "subscription" && setup && allowed.some((a) => a.setup === setup && a.guid === guid)) return undefined;
      const where = `${kind} scope "${scope}"`;
      const hint = kind === "subscription" ? ` ${allowanceHint(POLICY.noPrivilegedRoleAboveResourceGroup, setup, guid)}` : "";
      return `Setup "${setup ?? "(none)"}" grants ${roleLabel(guid)} to a managed identity at ${where}: a privileged role above a resource group.${hint}`;
    });
  },
};

export const grantAboveResourceGroupNeedsAllowance: StackValidationPolicy = {
  name: POLICY.grantAboveResourceGroupNeedsAllowance,
  description:
    "Every role assignment to a managed identity above resource-group scope needs an allowance for its setup (only subscription scope can be allowed).",
  enforcementLevel: "mandatory",
  severity: "high",
  configSchema: { properties: allowanceSchema },
  validateStack: (args, report) => {
    const allowed = readAllowances(POLICY.grantAboveResourceGroupNeedsAllowance, args.getConfig<AllowanceConfig>());
    validateGrantsAboveResourceGroup(args, report, ({ setup, guid, kind, scope }) => {
      if (kind !== "subscription")
        return `Setup "${setup ?? "(none)"}" grants ${roleLabel(guid)} to a managed identity at ${kind} scope "${scope}"; no allowance can cover a scope above a subscription.`;
      if (!setup)
        return `A role assignment to a managed identity at subscription scope "${scope}" belongs to no identitylab setup, so no allowance can name it.`;
      if (guid && allowed.some((a) => a.setup === setup && a.guid === guid)) return undefined;
      return `Setup "${setup}" grants ${roleLabel(guid)} to a managed identity at subscription scope "${scope}" without an allowance. ${allowanceHint(POLICY.grantAboveResourceGroupNeedsAllowance, setup, guid)}`;
    });
  },
};

export const principalTypeServicePrincipal: ResourceValidationPolicy = {
  name: POLICY.principalTypeServicePrincipal,
  description:
    "Role assignments to managed identities set principalType ServicePrincipal (ARM then accepts a fresh identity before it has replicated, instead of failing with PrincipalNotFound).",
  enforcementLevel: "mandatory",
  severity: "medium",
  validateResource: (args, report) => {
    if (!isRoleAssignment(args.type) || !insideLab(args.urn)) return;
    const principalType = args.props.principalType;
    if (principalType !== "ServicePrincipal")
      report(
        `Role assignment to a managed identity has principalType ${principalType === undefined ? "unset" : `"${principalType}"`}; set "ServicePrincipal".`,
      );
  },
};

export const noOpenManagementPorts: ResourceValidationPolicy = {
  name: POLICY.noOpenManagementPorts,
  description: "No NSG rule allows inbound RDP (3389) or SSH (22) from *, Internet, Any, 0.0.0.0/0 or any source wider than /24.",
  enforcementLevel: "mandatory",
  severity: "critical",
  validateResource: (args, report) => {
    let rules: RuleLike[];
    if (isAzureType(args.type, "network", "NetworkSecurityGroup")) rules = args.props.securityRules ?? [];
    else if (isAzureType(args.type, "network", "SecurityRule"))
      rules = [{ ...args.props, name: ifKnown(() => args.props.name ?? args.props.securityRuleName, undefined) ?? args.name }];
    else return;
    eachKnown(rules, (rule) => {
      // Spread copies read every field, so an unknown anywhere in the rule defers the whole rule.
      for (const problem of ruleProblems({ ...rule })) report(`${problem}.`);
    });
  },
};

type Props = ResourceValidationArgs["props"];

const isVm = (args: ResourceValidationArgs) => isAzureType(args.type, "compute", "VirtualMachine");

export const vmHasIdentity: ResourceValidationPolicy = {
  name: POLICY.vmHasIdentity,
  description: "Every VM has a managed identity: system-assigned, user-assigned (at least one), or both.",
  enforcementLevel: "mandatory",
  severity: "high",
  validateResource: (args, report) => {
    if (!isVm(args)) return;
    const identity = args.props.identity;
    const type = String(identity?.type ?? "None")
      .replace(/\s+/g, "")
      .toLowerCase();
    if (!["systemassigned", "userassigned", "systemassigned,userassigned"].includes(type)) {
      report(`VM has no managed identity (identity.type ${identity?.type === undefined ? "unset" : `"${identity.type}"`}).`);
      return;
    }
    if (type.includes("userassigned")) {
      const uais = identity.userAssignedIdentities;
      const count = Array.isArray(uais) ? uais.length : uais && typeof uais === "object" ? Object.keys(uais).length : 0;
      if (count === 0)
        report(`VM identity.type "${identity.type}" names no user-assigned identity (identity.userAssignedIdentities is empty).`);
    }
  },
};

export const vmDeletesItsResources: ResourceValidationPolicy = {
  name: POLICY.vmDeletesItsResources,
  description: "A VM's OS disk, NICs and public IPs are deleted with it (deleteOption Delete; ARM's default, Detach, leaves them behind).",
  enforcementLevel: "advisory",
  severity: "low",
  validateResource: (args, report) => {
    if (!isVm(args)) return;
    const checks: (() => void)[] = [];
    const need = (what: string, value: unknown) => {
      if (value !== "Delete")
        report(`${what} has deleteOption ${value === undefined ? "unset (ARM's default is Detach)" : `"${String(value)}"`}; set "Delete".`);
    };
    // ARM: osDisk.deleteOption defaults to Detach except for ephemeral OS disks
    // (https://learn.microsoft.com/dotnet/api/azure.resourcemanager.compute.models.virtualmachineosdisk.deleteoption).
    checks.push(() => need("The OS disk", args.props.storageProfile?.osDisk?.deleteOption));
    checks.push(() => {
      const nics = args.props.networkProfile?.networkInterfaceConfigurations ?? [];
      eachKnown<Props>(nics, (nic) => {
        need(`NIC configuration "${nic.name ?? "(unnamed)"}"`, nic.deleteOption);
        eachKnown<Props>(nic.ipConfigurations ?? [], (ip) => {
          if (ip.publicIPAddressConfiguration)
            need(
              `The public IP configuration of "${nic.name ?? "(unnamed)"}/${ip.name ?? "(unnamed)"}"`,
              ip.publicIPAddressConfiguration.deleteOption,
            );
        });
      });
    });
    eachKnown(checks, (c) => c());
  },
};

export const vmTrustedLaunch: ResourceValidationPolicy = {
  name: POLICY.vmTrustedLaunch,
  description: "Every VM uses Trusted Launch with secure boot and vTPM.",
  enforcementLevel: "mandatory",
  severity: "high",
  validateResource: (args, report) => {
    if (!isVm(args)) return;
    const sp = args.props.securityProfile;
    if (String(sp?.securityType ?? "").toLowerCase() !== "trustedlaunch")
      report(
        `VM securityProfile.securityType is ${sp?.securityType === undefined ? "unset" : `"${sp.securityType}"`}; set "TrustedLaunch".`,
      );
    if (sp?.uefiSettings?.secureBootEnabled !== true) report("VM securityProfile.uefiSettings.secureBootEnabled is not true.");
    if (sp?.uefiSettings?.vTpmEnabled !== true) report("VM securityProfile.uefiSettings.vTpmEnabled is not true.");
  },
};

export const vmLinuxNoPassword: ResourceValidationPolicy = {
  name: POLICY.vmLinuxNoPassword,
  description: "Linux VMs do not allow password authentication (osProfile.linuxConfiguration.disablePasswordAuthentication true).",
  enforcementLevel: "mandatory",
  severity: "high",
  validateResource: (args, report) => {
    if (!isVm(args)) return;
    const linux = args.props.osProfile?.linuxConfiguration;
    const osType = String(args.props.storageProfile?.osDisk?.osType ?? "").toLowerCase();
    if (!linux && osType !== "linux") return;
    if (linux?.disablePasswordAuthentication !== true)
      report(
        "Linux VM allows password authentication; set osProfile.linuxConfiguration.disablePasswordAuthentication to true (and give an SSH key).",
      );
  },
};

export const POLICIES: readonly (ResourceValidationPolicy | StackValidationPolicy)[] = [
  noAssignmentAboveSubscription,
  noPrivilegedRoleAboveResourceGroup,
  grantAboveResourceGroupNeedsAllowance,
  principalTypeServicePrincipal,
  noOpenManagementPorts,
  vmHasIdentity,
  vmDeletesItsResources,
  vmTrustedLaunch,
  vmLinuxNoPassword,
];

/** The level each policy has when the config says nothing. */
export const DEFAULT_LEVELS: Readonly<Record<PolicyName, EnforcementLevel>> = Object.fromEntries(
  POLICIES.map((p) => [p.name, p.enforcementLevel ?? "advisory"]),
) as Record<PolicyName, EnforcementLevel>;
