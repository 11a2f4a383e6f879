/**
 * Test helpers for the pack (used by policy/*.test.ts only): build the arguments
 * @pulumi/policy hands a validator, run policies the way its analyzer server does
 * (enforcement level from config, then the policy, then advisory; an UnknownValueError
 * becomes an advisory "can't run ... during preview"), and record a program's resources
 * with their parent chain under Pulumi's mock runtime.
 */
import * as pulumi from "@pulumi/pulumi";
import {
  EnforcementLevel,
  PolicyPackConfig,
  PolicyResource,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationPolicy,
  UnknownValueError,
  unknownCheckingProxy,
} from "@pulumi/policy";
import type { MockAzure } from "../offline/mockAzure";

type AnyPolicy = ResourceValidationPolicy | StackValidationPolicy;

/** What a preview sends for a string not known yet (the engine's unknown sentinel, as @pulumi/policy decodes it). */
export const UNKNOWN: string = require("@pulumi/policy/proxy").unknownStringValue;

export interface Violation {
  readonly policy: string;
  readonly level: EnforcementLevel;
  readonly message: string;
  readonly urn?: string;
}

export function urnOf(type: string, name: string, parentTypes: readonly string[] = []): string {
  return `urn:pulumi:dev::identity-lab::${[...parentTypes, type].join("$")}::${name}`;
}

const noOptions = (parent?: string) => ({
  protect: false,
  ignoreChanges: [],
  aliases: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
  additionalSecretOutputs: [],
  parent,
});

/** A resource as a stack policy sees it; props behind @pulumi/policy's own unknown-checking proxy. */
export function stackResource(
  type: string,
  name: string,
  props: Record<string, unknown>,
  options: { parent?: PolicyResource; urn?: string; propertyDependencies?: Record<string, PolicyResource[]> } = {},
): PolicyResource {
  const parentTypes = options.parent ? [...ancestorTypes(options.parent)] : [];
  const urn = options.urn ?? urnOf(type, name, parentTypes);
  const proxied = unknownCheckingProxy(props) as Record<string, any>;
  return {
    type,
    name,
    urn,
    props: proxied,
    opts: noOptions(options.parent?.urn),
    parent: options.parent,
    dependencies: [],
    propertyDependencies: options.propertyDependencies ?? {},
    isType: () => false,
    asType: () => undefined,
  };
}

function ancestorTypes(r: PolicyResource): string[] {
  const types: string[] = [];
  for (let p: PolicyResource | undefined = r; p; p = p.parent) types.unshift(p.type);
  return types;
}

/** The arguments of a resource policy's validator, for `resource` (or plain type + props). */
export function resourceArgs(resource: PolicyResource, config: Record<string, unknown> = {}): ResourceValidationArgs {
  return {
    type: resource.type,
    props: resource.props,
    urn: resource.urn,
    name: resource.name,
    opts: resource.opts,
    stackTags: new Map(),
    isType: () => false,
    asType: () => undefined,
    getConfig: <T extends object>() => config as T,
    notApplicable: (reason?: string): never => {
      throw new Error(`notApplicable: ${reason}`);
    },
  };
}

function levelOf(policy: AnyPolicy, config: PolicyPackConfig): EnforcementLevel {
  const entry = config[policy.name];
  const fromConfig = typeof entry === "string" ? entry : entry?.enforcementLevel;
  return fromConfig || policy.enforcementLevel || "advisory";
}

function settingsOf(policy: AnyPolicy, config: PolicyPackConfig): Record<string, unknown> {
  const entry = config[policy.name];
  if (!entry || typeof entry === "string") return {};
  const { enforcementLevel: _level, ...rest } = entry;
  return rest;
}

/** Runs one policy over `resources` like @pulumi/policy's analyzer does, returning every diagnostic. */
export async function runPolicy(
  policy: AnyPolicy,
  resources: readonly PolicyResource[],
  config: PolicyPackConfig = {},
): Promise<Violation[]> {
  let level = levelOf(policy, config);
  if (level === "disabled") return [];
  if (level === "remediate") level = "mandatory";
  const out: Violation[] = [];
  const report = (urn?: string) => (message: string, reportedUrn?: string) =>
    out.push({ policy: policy.name, level, message, urn: reportedUrn ?? urn });
  const cantRun = (e: UnknownValueError, urn?: string) =>
    out.push({ policy: policy.name, level: "advisory", message: `can't run policy '${policy.name}' during preview: ${e.message}`, urn });
  const settings = settingsOf(policy, config);
  if ("validateStack" in policy) {
    try {
      await policy.validateStack(
        {
          resources: [...resources],
          stackTags: new Map(),
          getConfig: <T extends object>() => settings as T,
          notApplicable: (reason?: string): never => {
            throw new Error(`notApplicable: ${reason}`);
          },
        },
        report(),
      );
    } catch (e) {
      if (!(e instanceof UnknownValueError)) throw e;
      cantRun(e);
    }
    return out;
  }
  const validations =
    policy.validateResource === undefined
      ? []
      : Array.isArray(policy.validateResource)
        ? policy.validateResource
        : [policy.validateResource];
  for (const r of resources) {
    for (const validate of validations) {
      try {
        await validate(resourceArgs(r, settings), report(r.urn));
      } catch (e) {
        if (!(e instanceof UnknownValueError)) throw e;
        cantRun(e, r.urn);
      }
    }
  }
  return out;
}

/** Every policy over every resource. */
export async function runPack(
  policies: readonly AnyPolicy[],
  resources: readonly PolicyResource[],
  config: PolicyPackConfig = {},
): Promise<Violation[]> {
  const all: Violation[] = [];
  for (const p of policies) all.push(...(await runPolicy(p, resources, config)));
  return all;
}

interface Registration {
  readonly urn: string;
  readonly parent: string;
  readonly type: string;
  readonly name: string;
}

/**
 * Records every registration (URN and parent URN) that reaches the mock monitor installed by
 * installMocks, so that resources can be rebuilt with their parent chain. Call once per test file,
 * after installMocks.
 */
export function recordRegistrations(): Registration[] {
  const registrations: Registration[] = [];
  const monitor = pulumi.runtime.getMonitor() as any;
  if (!monitor?.registerResource) throw new Error("recordRegistrations: installMocks first");
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, callback: (err: unknown, resp: any) => void) =>
    original(req, (err: unknown, resp: any) => {
      if (!err && resp) registrations.push({ urn: resp.getUrn(), parent: req.getParent(), type: req.getType(), name: req.getName() });
      callback(err, resp);
    });
  return registrations;
}

/**
 * The resources registered since `from` (indices into the mock's `registered` and the recorder's
 * list), as a stack policy would see them: inputs as props, parents linked by URN.
 * The mock monitor's URNs carry only the parent's type, not the whole chain as the engine's do;
 * the policies read ancestors from the parent links as well, so both forms are covered.
 */
export function stackFrom(
  azure: MockAzure,
  registrations: readonly Registration[],
  from: { registered: number; registrations: number },
  /** Rewrites a resource's inputs, e.g. to the unknowns a first preview would send. */
  rewrite: (type: string, name: string, inputs: Record<string, any>) => Record<string, any> = (_t, _n, inputs) => inputs,
): PolicyResource[] {
  const registered = azure.registered.slice(from.registered);
  const byUrn = new Map<string, PolicyResource>();
  const regs = registrations.slice(from.registrations);
  for (const reg of regs) {
    const rec = registered.find((r) => r.type === reg.type && r.name === reg.name);
    if (!rec) throw new Error(`no recorded inputs for ${reg.type} ${reg.name}`);
    byUrn.set(reg.urn, stackResource(reg.type, reg.name, rewrite(reg.type, reg.name, structuredClone(rec.inputs)), { urn: reg.urn }));
  }
  for (const reg of regs) {
    const parent = reg.parent ? byUrn.get(reg.parent) : undefined;
    if (parent) {
      const r = byUrn.get(reg.urn)!;
      (r as { parent?: PolicyResource }).parent = parent;
      (r.opts as { parent?: string }).parent = parent.urn;
    }
  }
  return [...byUrn.values()];
}
