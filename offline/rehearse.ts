/**
 * Deploys the real program (index.ts, its config and components) into the
 * simulated Azure under Pulumi's mock runtime, like `pulumi up`; then rehearses
 * `pulumi destroy` in reverse dependency order and checks nothing is left.
 */
import { availableParallelism } from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { AzureEmulator, type Endpoint, type Fault } from "./azure-emulator";
import { Mutation, OTHER_RESOURCE_GROUP, mutationTransformation } from "./mutations";
import { AzureThing, Operation, PriorGrant, SimulatedAzure } from "./simulatedAzure";
import { PwshPool } from "./pwshHost";

/**
 * Hosts for --warm-pwsh, shared by the rehearsals of one process: one per core, at most four. The VMs of a
 * stack run their extensions side by side, and more hosts than cores only compete for them (each new host
 * also pays its start and its first runs' JIT: about 3 CPU-s).
 */
const WARM_HOSTS = Math.min(4, availableParallelism());
let warm: PwshPool | undefined;
function warmPool(pwsh: string): PwshPool {
  return (warm ??= new PwshPool(pwsh, WARM_HOSTS));
}

/** Ends the --warm-pwsh hosts (a later warm rehearsal starts new ones). */
export async function closeWarmPwsh(): Promise<void> {
  const pool = warm;
  warm = undefined;
  await pool?.close();
}

export interface RehearsalOptions {
  /** Stack config as Pulumi stores it: "identity-lab:vmSize" → text (maps as JSON). */
  readonly config?: Record<string, string>;
  readonly stack?: string;
  /** RBAC propagation: a role assignment takes effect this long after it is created. */
  readonly rbacDelayMs?: number;
  /** How long ARM takes to create a role assignment. */
  readonly roleAssignmentCreateMs?: number;
  /** Faults the emulator injects, in order, per endpoint. */
  readonly faults?: ReadonlyArray<{ readonly endpoint: Endpoint; readonly fault: Fault }>;
  /** Compresses time by capping the probe's deadline (seconds). */
  readonly probeDeadlineSeconds?: number;
  /** Creates role assignments only after the extensions running alongside them have finished (see SimulationOptions). */
  readonly lateRoleAssignment?: boolean;
  /** How long ARM takes to create each VM (default 0). */
  readonly vmCreateMs?: number;
  /** Roles the identities already hold when they are created (see SimulationOptions.priorGrants). */
  readonly priorGrants?: readonly PriorGrant[];
  readonly mutation?: Mutation;
  readonly pwsh: string;
  /**
   * Runs the VMs' PowerShell in long-lived pwsh hosts (offline/pwshHost.ts), kept for later rehearsals in
   * this process until closeWarmPwsh(), instead of a process per VM.
   */
  readonly warmPwsh?: boolean;
  /** Progress, line by line, as `pulumi up` shows it. */
  readonly log?: (line: string) => void;
  readonly programPath?: string;
}

export interface PathStep {
  readonly name: string;
  readonly type: string;
  readonly startMs: number;
  readonly endMs: number;
}

export interface TeardownReport {
  /** Ids deleted, in order, each with what Azure removed along with it. */
  readonly deleted: string[];
  /** What Pulumi made (or had Azure make) and is still there: must be empty. */
  readonly leftovers: AzureThing[];
  /** What Azure made by itself, which Pulumi neither created nor deletes. */
  readonly implicit: AzureThing[];
  /**
   * What nobody deleted but went with the lab's resource group: in a shared
   * resource group it would be left behind. Must be empty.
   */
  readonly sweptWithResourceGroup: string[];
  readonly errors: string[];
}

export interface RehearsalResult {
  /** Stack outputs; secrets shown as "[secret]". */
  readonly outputs: Record<string, unknown>;
  /** What failed the update: uncaught errors (as Pulumi's runtime reports them) and failed registrations. */
  readonly errors: string[];
  readonly failed: boolean;
  readonly operations: Operation[];
  readonly criticalPath: PathStep[];
  readonly teardown: TeardownReport;
  readonly durationMs: number;
}

interface Registration {
  readonly type: string;
  readonly name: string;
  readonly parent: string;
  readonly custom: boolean;
  readonly deps: string[];
  urn?: string;
  id?: string;
}

let running = false;

/**
 * One rehearsal at a time per process: Pulumi's runtime state (the mock monitor, the
 * config, the root stack) is process-wide. Sequential calls are independent: each
 * evaluates the program afresh.
 */
export async function rehearse(options: RehearsalOptions): Promise<RehearsalResult> {
  if (running) throw new Error("rehearse(): a rehearsal is already running in this process; run them one after another");
  running = true;
  try {
    return await rehearseOnce(options);
  } finally {
    running = false;
  }
}

async function rehearseOnce(options: RehearsalOptions): Promise<RehearsalResult> {
  const log = options.log ?? (() => undefined);
  const started = Date.now();
  const emulator = new AzureEmulator();
  await emulator.start();
  try {
    emulator.addResourceGroup({ name: OTHER_RESOURCE_GROUP, location: "eastus2" });
    for (const { endpoint, fault } of options.faults ?? []) emulator.injectFaults(endpoint, fault);
    emulator.setVmIdentity(null);

    const sim = new SimulatedAzure(emulator, {
      rbacDelayMs: options.rbacDelayMs ?? 0,
      roleAssignmentCreateMs: options.roleAssignmentCreateMs ?? 0,
      pwsh: options.pwsh,
      warmPwsh: options.warmPwsh ? warmPool(options.pwsh) : undefined,
      probeDeadlineSeconds: options.probeDeadlineSeconds,
      lateRoleAssignment: options.lateRoleAssignment,
      vmCreateMs: options.vmCreateMs,
      priorGrants: options.priorGrants,
      onOperation: (op) => log(formatOperation(op)),
    });
    const stack = options.stack ?? "dev";
    pulumi.runtime.setMocks(sim.mocks(), "identity-lab", stack, false);
    pulumi.runtime.setAllConfig({ ...(options.config ?? {}) });
    const registrations = watchRegistrations();
    const errors = captureUncaught();

    log(`Rehearsing \`pulumi up\` of identity-lab (stack ${stack}) against a simulated Azure: nothing leaves this machine.`);
    let outputs: Record<string, unknown> = {};
    try {
      // The module's own exports, whose Outputs still know they are secret.
      let program: Record<string, unknown> = {};
      await pulumi.runtime.runInPulumiStack(async () => {
        if (options.mutation) pulumi.runtime.registerStackTransformation(mutationTransformation(options.mutation, emulator.subscriptionId));
        // The program's module runs once per rehearsal, as it runs once per `pulumi up`.
        const programPath = require.resolve(options.programPath ?? path.join(__dirname, "..", "index"));
        delete require.cache[programPath];
        program = require(programPath);
        return program;
      });
      outputs = await resolveOutputs(program);
    } catch (e) {
      // The same error also arrives as the Stack's unhandled rejections: record it once.
      errors.report(e);
    }
    await settled(sim.operations);
    // Rejections count as uncaught only once the event loop has turned.
    await new Promise((r) => setTimeout(r, 50));
    errors.restore();
    for (const r of registrations.list) if (r.custom) r.id = findId(sim, r);
    registrations.restore();

    const criticalPath = computeCriticalPath(sim.operations, registrations.list);
    const created = sim.operations.filter((o) => o.status === "created").length;
    const failedOps = sim.operations.filter((o) => o.status === "failed").length;
    log(`Resources: ${created} created${failedOps ? `, ${failedOps} failed` : ""}`);
    for (const line of formatOutputs(outputs)) log(line);
    for (const line of formatCriticalPath(criticalPath)) log(line);
    const teardown = rehearseTeardown(sim, registrations.list, log);
    return {
      outputs,
      errors: errors.messages,
      failed: errors.messages.length > 0 || sim.operations.some((o) => o.status === "failed"),
      operations: sim.operations,
      criticalPath,
      teardown,
      durationMs: Date.now() - started,
    };
  } finally {
    await emulator.stop();
  }
}

function findId(sim: SimulatedAzure, r: Registration): string | undefined {
  for (const thing of sim.inventory.values()) if (thing.pulumiName === r.name && thing.type === r.type) return thing.id;
  return undefined;
}

export function formatOutputs(outputs: Record<string, unknown>): string[] {
  const lines = ["", "Outputs:"];
  for (const [k, v] of Object.entries(outputs)) lines.push(`    ${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`);
  return lines;
}

export function formatCriticalPath(path: PathStep[]): string[] {
  const lines = ["", "Critical path (each step waited for the one before it):"];
  for (const step of path) {
    lines.push(`    ${((step.endMs - step.startMs) / 1000).toFixed(1).padStart(6)}s  ${step.type} ${step.name}`);
  }
  if (path.length > 0)
    lines.push(
      `    ${((path[path.length - 1].endMs - path[0].startMs) / 1000).toFixed(1).padStart(6)}s  from the first start to the last end`,
    );
  return lines;
}

function formatOperation(op: Operation): string {
  const mark = op.status === "failed" ? " **" : " + ";
  const secs = ((op.endMs - op.startMs) / 1000).toFixed(1).padStart(5);
  return `${mark} ${op.type.padEnd(46)} ${op.name.padEnd(28)} ${op.status} ${secs}s${op.detail ? `  (${op.detail})` : ""}`;
}

/** Records each registration's parent and dependencies, as the engine would see them. */
function watchRegistrations(): { list: Registration[]; restore: () => void } {
  const monitor = pulumi.runtime.getMonitor() as any;
  const original = monitor.registerResource.bind(monitor);
  const list: Registration[] = [];
  monitor.registerResource = (req: any, callback: (err: unknown, resp: any) => void) => {
    const reg: Registration = {
      type: req.getType(),
      name: req.getName(),
      parent: req.getParent(),
      custom: req.getCustom(),
      deps: req.getDependenciesList(),
    };
    list.push(reg);
    return original(req, (err: unknown, resp: any) => {
      if (resp) reg.urn = resp.getUrn();
      callback(err, resp);
    });
  };
  return { list, restore: () => (monitor.registerResource = original) };
}

/**
 * What fails a real `pulumi up`: an uncaught error, which Pulumi's Node.js runtime
 * reports once (it deduplicates by identity) and turns into a non-zero exit. (Logged errors alone do not.)
 */
function captureUncaught(): { messages: string[]; report: (err: unknown) => void; restore: () => void } {
  const messages: string[] = [];
  const seen = new Set<unknown>();
  const report = (err: unknown) => {
    if (seen.has(err)) return;
    seen.add(err);
    messages.push(err instanceof Error ? err.message : String(err));
  };
  process.on("unhandledRejection", report);
  return { messages, report, restore: () => process.off("unhandledRejection", report) };
}

async function resolveOutputs(exported: Record<string, unknown>): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(exported)) {
    if (pulumi.Output.isInstance(v)) {
      out[k] = (await pulumi.isSecret(v)) ? "[secret]" : await (v as any).promise();
    } else out[k] = v;
  }
  return out;
}

/** Waits for every operation still running (a failed program may leave some). */
async function settled(ops: Operation[]): Promise<void> {
  for (let i = 0; i < 600 && ops.some((o) => o.status === "running"); i++) await new Promise((r) => setTimeout(r, 100));
}

/** Custom resources each registration depends on, through components. */
function customDeps(regs: Registration[]): Map<Registration, Set<Registration>> {
  const byUrn = new Map(regs.filter((r) => r.urn).map((r) => [r.urn!, r]));
  const children = new Map<string, Registration[]>();
  for (const r of regs) children.set(r.parent, [...(children.get(r.parent) ?? []), r]);
  const expand = (urn: string, into: Set<Registration>) => {
    const r = byUrn.get(urn);
    if (!r) return;
    if (r.custom) into.add(r);
    else for (const c of children.get(urn) ?? []) if (c.urn) expand(c.urn, into);
  };
  const deps = new Map<Registration, Set<Registration>>();
  for (const r of regs) {
    if (!r.custom) continue;
    const set = new Set<Registration>();
    for (const d of r.deps) expand(d, set);
    set.delete(r);
    deps.set(r, set);
  }
  return deps;
}

/** The chain of operations, each waiting on the previous, that set the deployment's length. */
function computeCriticalPath(ops: Operation[], regs: Registration[]): PathStep[] {
  const deps = customDeps(regs);
  const opOf = (r: Registration) => ops.find((o) => o.name === r.name && o.type === r.type);
  let current = [...deps.keys()].filter((r) => opOf(r)).sort((a, b) => opOf(b)!.endMs - opOf(a)!.endMs)[0];
  const path: PathStep[] = [];
  while (current) {
    const op = opOf(current)!;
    path.unshift({ name: op.name, type: op.type, startMs: op.startMs, endMs: op.endMs });
    current = [...(deps.get(current) ?? [])].filter((d) => opOf(d)).sort((a, b) => opOf(b)!.endMs - opOf(a)!.endMs)[0];
  }
  return path;
}

/** Pulumi's destroy order: a resource goes only after everything that depends on it. */
function rehearseTeardown(sim: SimulatedAzure, regs: Registration[], log: (l: string) => void): TeardownReport {
  log("");
  log("Rehearsing `pulumi destroy` (dependents first):");
  const deps = customDeps(regs);
  const remaining = new Set([...deps.keys()].filter((r) => r.id));
  const deleted: string[] = [];
  const errors: string[] = [];
  const swept: string[] = [];
  while (remaining.size > 0) {
    const ready = [...remaining].filter((r) => ![...remaining].some((other) => deps.get(other)?.has(r)));
    if (ready.length === 0) {
      errors.push(`dependency cycle among ${[...remaining].map((r) => r.name).join(", ")}`);
      break;
    }
    for (const r of ready) {
      remaining.delete(r);
      try {
        const gone = sim.delete(r.id!);
        deleted.push(...gone);
        if (r.type === "azure-native:resources:ResourceGroup") swept.push(...gone.slice(1));
        log(
          ` -  ${r.type.padEnd(46)} ${r.name.padEnd(28)} deleted${gone.length > 1 ? ` (with ${gone.slice(1).map(shortName).join(", ")})` : ""}`,
        );
      } catch (e) {
        errors.push(`${r.name}: ${(e as Error).message}`);
        log(` ** ${r.type.padEnd(46)} ${r.name.padEnd(28)} ${(e as Error).message}`);
      }
    }
  }
  const left = [...sim.inventory.values()];
  return {
    deleted,
    leftovers: left.filter((t) => !t.implicitReason),
    implicit: left.filter((t) => t.implicitReason),
    sweptWithResourceGroup: swept,
    errors,
  };
}

function shortName(id: string): string {
  const parts = id.split("/");
  return `${parts[parts.length - 2]}/${parts[parts.length - 1]}`;
}
