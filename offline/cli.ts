/**
 * `npm run rehearse`: the lab deployed into a simulated Azure, then torn down.
 *
 *   npm run rehearse
 *   npm run rehearse -- --rbac-delay 20 --fault imds:410x3 --fault resourceGroup:429:retry-after=2
 *   npm run rehearse -- --stack-config Pulumi.dev.yaml --mutate wrong-scope --probe-deadline 15
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { findPwsh, ToolchainError } from "./pwsh";
import type { Endpoint, Fault } from "./azure-emulator";
import { MUTATIONS, Mutation } from "./mutations";
import { resolveRole } from "../components/roles";
import { RehearsalOptions, RehearsalResult, closeWarmPwsh, rehearse } from "./rehearse";
import type { PriorGrant } from "./simulatedAzure";

const USAGE = `usage: npm run rehearse -- [options]
  --stack-config FILE      stack settings to deploy (e.g. Pulumi.dev.yaml); default: the project defaults
  --config KEY=VALUE       one config value, e.g. identity-lab:outboundAccess=defaultOutboundAccess (repeatable)
  --rbac-delay SECONDS     RBAC propagation delay of the role assignment (default 0)
  --assignment-latency S   how long ARM takes to create the role assignment (default 0)
  --probe-deadline SECONDS cap the probe's deadline, to rehearse failures quickly
  --vm-create SECONDS      how long ARM takes to create each VM (default 0), so grants can overlap it
  --prior-grant SPEC       NAME:ROLE@SCOPE: a role the identity of resource NAME already holds (repeatable),
                           SCOPE subscription, resourceGroup or an ARM id; rehearses over-privilege
  --late-assignment        the worst order Azure may choose: create the role assignment only after
                           every VM extension that does not wait for it has finished
                           (implied by --mutate no-dependency, which no other timing catches for sure)
  --fault SPEC             endpoint:what[xN], endpoint one of imds, resourceGroup, permissions;
                           what: an HTTP status (e.g. 410, 429:retry-after=2), reset, hang, malformed,
                           endless (a body that never ends) or trickle (one that never completes) (repeatable)
  --mutate NAME            deploy a broken variant: ${Object.keys(MUTATIONS).join(", ")}
  --warm-pwsh              run the VMs' PowerShell in long-lived pwsh hosts, a fresh runspace each, instead of
                           a pwsh process each (Azure's way): saves ~1 CPU-s per Windows VM
  --json                   print the result as JSON instead of progress`;

export function parseFault(spec: string): Array<{ endpoint: Endpoint; fault: Fault }> {
  const m = /^(imds|resourceGroup|permissions):([^x]+?)(?:x(\d+))?$/.exec(spec);
  if (!m) throw new Error(`--fault ${spec}: expected endpoint:what[xN], e.g. imds:410x3`);
  const [, endpoint, what, times] = m;
  let fault: Fault;
  const status = /^(\d{3})(?::retry-after=(\d+))?$/.exec(what);
  if (status) fault = { status: Number(status[1]), headers: status[2] ? { "Retry-After": status[2] } : undefined };
  else if (what === "reset") fault = { reset: true };
  else if (what === "hang") fault = { hang: true };
  else if (what === "malformed") fault = { malformed: true };
  else if (what === "endless") fault = { endless: true };
  else if (what === "trickle") fault = { trickle: true };
  else throw new Error(`--fault ${spec}: "${what}" is not a status, reset, hang, malformed, endless or trickle`);
  return Array.from({ length: Number(times ?? 1) }, () => ({ endpoint: endpoint as Endpoint, fault }));
}

/** NAME:ROLE@SCOPE, e.g. idlab-app-identity:Contributor@subscription; ROLE is a built-in name or a GUID. */
export function parsePriorGrant(spec: string): PriorGrant {
  const m = /^([^:]+):([^@]+)@(.+)$/.exec(spec);
  if (!m) throw new Error(`--prior-grant ${spec}: expected NAME:ROLE@SCOPE, e.g. idlab-vm:Contributor@subscription`);
  const role = resolveRole(m[2]);
  if (!role) throw new Error(`--prior-grant ${spec}: "${m[2]}" is neither a built-in role name nor a role-definition GUID`);
  return { identityOf: m[1], roleDefinitionGuid: role.guid, scope: m[3] };
}

/** A stack file's config as Pulumi passes it to the program: text, maps as JSON. */
export function readStackConfig(file: string): Record<string, string> {
  const config = (parseYaml(readFileSync(file, "utf8"))?.config ?? {}) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
}

export function optionsFromArgs(argv: string[]): { options: Omit<RehearsalOptions, "pwsh">; json: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      "stack-config": { type: "string" },
      config: { type: "string", multiple: true },
      "rbac-delay": { type: "string" },
      "assignment-latency": { type: "string" },
      "probe-deadline": { type: "string" },
      fault: { type: "string", multiple: true },
      mutate: { type: "string" },
      "late-assignment": { type: "boolean" },
      "vm-create": { type: "string" },
      "prior-grant": { type: "string", multiple: true },
      "warm-pwsh": { type: "boolean" },
      json: { type: "boolean" },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) throw new Error(USAGE);
  const seconds = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    if (!/^\d+(\.\d+)?$/.test(v)) throw new Error(`--${name} ${v}: expected a number of seconds`);
    return Number(v);
  };
  const config = values["stack-config"] ? readStackConfig(values["stack-config"]) : {};
  for (const kv of values.config ?? []) {
    const at = kv.indexOf("=");
    if (at < 1) throw new Error(`--config ${kv}: expected KEY=VALUE`);
    const key = kv.slice(0, at).includes(":") ? kv.slice(0, at) : `identity-lab:${kv.slice(0, at)}`;
    config[key] = kv.slice(at + 1);
  }
  if (values.mutate && !(values.mutate in MUTATIONS))
    throw new Error(`--mutate ${values.mutate}: one of ${Object.keys(MUTATIONS).join(", ")}`);
  const delay = seconds("rbac-delay", values["rbac-delay"]);
  const latency = seconds("assignment-latency", values["assignment-latency"]);
  const vmCreate = seconds("vm-create", values["vm-create"]);
  return {
    json: values.json ?? false,
    options: {
      config,
      rbacDelayMs: delay === undefined ? undefined : delay * 1000,
      roleAssignmentCreateMs: latency === undefined ? undefined : latency * 1000,
      probeDeadlineSeconds: seconds("probe-deadline", values["probe-deadline"]),
      lateRoleAssignment: values["late-assignment"] ?? values.mutate === "no-dependency",
      faults: (values.fault ?? []).flatMap(parseFault),
      mutation: values.mutate as Mutation | undefined,
      vmCreateMs: vmCreate === undefined ? undefined : vmCreate * 1000,
      priorGrants: (values["prior-grant"] ?? []).map(parsePriorGrant),
      warmPwsh: values["warm-pwsh"] ?? false,
    },
  };
}

export function summarize(result: RehearsalResult): string[] {
  const lines: string[] = [];
  const t = result.teardown;
  lines.push("", `Teardown: ${t.deleted.length} deleted; ${t.leftovers.length} left behind; ${t.errors.length} errors.`);
  for (const l of t.leftovers) lines.push(`    LEFT BEHIND: ${l.type} ${l.id}`);
  for (const s of t.sweptWithResourceGroup) lines.push(`    went only with the resource group (would stay in a shared one): ${s}`);
  for (const e of t.errors) lines.push(`    ERROR: ${e}`);
  for (const i of t.implicit) lines.push(`    Azure's own, not Pulumi's (destroy leaves it): ${i.id}: ${i.implicitReason}`);
  lines.push("");
  if (result.errors.length > 0) {
    lines.push("error: the update failed:");
    for (const e of result.errors) lines.push(...e.split("\n").map((l) => `    ${l}`));
    lines.push("");
  }
  lines.push(
    `This was a rehearsal (${(result.durationMs / 1000).toFixed(1)}s): the real program ran under Pulumi's mock runtime against a ` +
      `simulated Azure on this machine, and the probe ran in PowerShell 7 (Linux VMs: dash) against a local IMDS/ARM emulator. No Azure was contacted.`,
  );
  return lines;
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof optionsFromArgs>;
  try {
    parsed = optionsFromArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  let pwsh: string;
  try {
    pwsh = findPwsh();
  } catch (e) {
    if (!(e instanceof ToolchainError)) throw e;
    process.stderr.write(`identity-lab: ${e.message}\n`);
    return 1;
  }
  const result = await rehearse({
    ...parsed.options,
    pwsh,
    log: parsed.json ? undefined : (line) => process.stdout.write(`${line}\n`),
  });
  await closeWarmPwsh();
  if (parsed.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else process.stdout.write(`${summarize(result).join("\n")}\n`);
  return exitCode(result);
}

/** 0 only when the update succeeded and the teardown left nothing behind. */
export function exitCode(result: RehearsalResult): 0 | 1 {
  const clean =
    result.teardown.leftovers.length === 0 && result.teardown.errors.length === 0 && result.teardown.sweptWithResourceGroup.length === 0;
  return !result.failed && clean ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`${(e as Error).stack}\n`);
      process.exit(3);
    },
  );
}
