/**
 * The pack's configuration in one call, in the style of @pulumi/awsguard: levels for
 * all policies at once or one by one, each policy's own settings beside its level.
 *
 *   guardConfig({ all: "advisory", "vm-trusted-launch": "mandatory",
 *                 "mi-grant-above-resource-group-needs-allowance": {
 *                   allowances: [{ setup: "idlab", role: "Reader", scope: "subscription" }] } })
 *
 * gives the PolicyPack's initialConfig: { <policy>: { enforcementLevel, ...settings } } for
 * every policy. A policy without an entry keeps its own default (mandatory for the security
 * policies). The same shape, as JSON, is what `--policy-pack-config` takes; the CLI's file
 * then wins over initialConfig for the policies it names.
 */
import type { EnforcementLevel, PolicyPackConfig } from "@pulumi/policy";
import { DEFAULT_LEVELS, NEVER_OVERRIDABLE, POLICY, POLICY_NAMES, PolicyName, readAllowances } from "./policies";

export type PolicySetting = EnforcementLevel | ({ enforcementLevel?: EnforcementLevel } & Record<string, unknown>);

export type GuardArgs = { all?: EnforcementLevel } & { [P in PolicyName]?: PolicySetting };

const LEVELS: readonly EnforcementLevel[] = ["advisory", "mandatory", "remediate", "disabled"];

/** Policies whose settings carry allowances, validated here so a typo fails when the pack loads. */
const WITH_ALLOWANCES: readonly PolicyName[] = [POLICY.noPrivilegedRoleAboveResourceGroup, POLICY.grantAboveResourceGroupNeedsAllowance];

function checkLevel(key: string, level: unknown): EnforcementLevel {
  if (!LEVELS.includes(level as EnforcementLevel))
    throw new Error(`${key}: "${String(level)}" is not an enforcement level (${LEVELS.join(", ")}).`);
  return level as EnforcementLevel;
}

/** Maps `{ all, <policy>: level | { enforcementLevel, ...settings } }` to initialConfig; throws naming the key and the rule. */
export function guardConfig(args: GuardArgs = {}): PolicyPackConfig {
  for (const key of Object.keys(args))
    if (key !== "all" && !POLICY_NAMES.includes(key as PolicyName))
      throw new Error(`${key}: not a policy of this pack (policies: ${POLICY_NAMES.join(", ")}).`);
  const all = args.all === undefined ? undefined : checkLevel("all", args.all);
  const config: PolicyPackConfig = {};
  for (const name of POLICY_NAMES) {
    const setting = args[name];
    const settings = typeof setting === "object" && setting !== null ? { ...setting } : {};
    const explicit = typeof setting === "string" ? setting : settings.enforcementLevel;
    const level = explicit !== undefined ? checkLevel(`${name}.enforcementLevel`, explicit) : (all ?? DEFAULT_LEVELS[name]);
    if (NEVER_OVERRIDABLE.includes(name) && level !== "mandatory") {
      // `all` lowers everything else; this one stays mandatory unless it is named explicitly, which is refused.
      if (explicit !== undefined) throw new Error(`${name}: is always mandatory; "${level}" is refused.`);
      config[name] = { ...settings, enforcementLevel: "mandatory" };
      continue;
    }
    if (WITH_ALLOWANCES.includes(name)) readAllowances(name, settings as { allowances?: never });
    config[name] = { ...settings, enforcementLevel: level };
  }
  return config;
}
