/**
 * The identity lab's guardrails as a policy pack:
 *   pulumi preview --policy-pack policy [--policy-pack-config policy-config.json]
 * The policies are in policies.ts, their configuration in config.ts; README.md beside this file.
 */
import { PolicyPack } from "@pulumi/policy";
import { guardConfig } from "./config";
import { POLICIES } from "./policies";

export const pack = new PolicyPack(
  "identity-lab-guardrails",
  {
    description: "Least-privilege grants for managed identities, no open management ports, and hardened VMs for the identity lab.",
    displayName: "identity-lab guardrails",
    policies: [...POLICIES],
  },
  guardConfig(),
);
