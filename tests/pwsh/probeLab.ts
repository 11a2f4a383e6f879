/**
 * The shared fixture of the pwsh suites: real PowerShell runs the probe against a pool
 * of IMDS/ARM emulators, with its timing scaled down (backoff 0.05 s, cap 0.2 s), and
 * every run is checked against probe/contract.md's invariants: exit 0, the report is
 * the last stdout line, compact, < 3,500 bytes, ASCII, and no access token anywhere in
 * stdout or stderr.
 */
import { AzureEmulator, READER_ROLE_ID, type Fault, type Endpoint } from "../../offline/azure-emulator";
import { runProbe, type ProbeRun } from "../../offline/pwsh";
import { POOL_SIZE, runProbeHosted } from "./probeHost";
import { probeInstanceView } from "../../offline/mockAzure";
import { readProbeOutcome, type ProbeOutcome } from "../../probe/report";

export const RG = "rg-identity-lab";
// Scaled-down timing. The request timeout stays generous so that a slow pwsh start on a busy CI machine
// is not mistaken for a hang; the hang cases set it to 1 s themselves.
export const FAST = { RetryBaseSeconds: 0.05, RetryCapSeconds: 0.2, RequestTimeoutSeconds: 5 };
// A base64url-encoded JSON object, as every JWS header and payload is: a whole token or a piece of one.
export const JWT_LIKE = /eyJ[A-Za-z0-9_-]{8,}/;

export interface Lab {
  emu: AzureEmulator;
  /** Epoch ms from which the emulator's RecordedRequest.atMs counts. */
  t0: number;
  scope: string;
}

export interface LabOptions {
  role?: "resourceGroup" | "subscription" | "none";
  addResourceGroup?: boolean;
  tags?: Record<string, string>;
  /** Use the emulator whose IMDS tokens live 200 s (inside the probe's 5-minute refresh window). */
  shortLivedTokens?: boolean;
  faults?: Partial<Record<Endpoint, Fault[]>>;
}

/**
 * Emulators are started once and reused: start() generates an RSA key and a certificate
 * synchronously, which would stall the event loop (and so every other case's emulator) if it
 * happened while probes run. The slots cap concurrent probe runs at the pooled hosts' number (the 2 CI cores).
 */
interface Slot {
  lab: Lab;
  identity: NonNullable<AzureEmulator["vmIdentity"]>;
}
const SLOTS = POOL_SIZE;
let pool: Promise<{ slots: Slot[]; shortLived: Slot }> | undefined;
const free: Slot[] = [];
const waiting: ((slot: Slot) => void)[] = [];

async function startSlot(options?: { tokenLifetimeSeconds?: number }): Promise<Slot> {
  const emu = new AzureEmulator(options);
  await emu.start();
  const lab = { emu, t0: emu.startedAtMs, scope: `/subscriptions/${emu.subscriptionId}/resourceGroups/${RG}` };
  return { lab, identity: emu.vmIdentity! };
}

function getPool() {
  if (!pool) {
    pool = (async () => {
      const slots: Slot[] = [];
      for (let i = 0; i < SLOTS; i++) slots.push(await startSlot());
      const shortLived = await startSlot({ tokenLifetimeSeconds: 200 });
      free.push(...slots);
      return { slots, shortLived };
    })();
  }
  return pool;
}

async function acquire(): Promise<Slot> {
  await getPool();
  const slot = free.pop();
  return slot ?? new Promise<Slot>((resolve) => waiting.push(resolve));
}

function release(slot: Slot): void {
  const next = waiting.shift();
  if (next) next(slot);
  else free.push(slot);
}

function reset(slot: Slot): void {
  const { emu } = slot.lab;
  emu.clearFaults();
  emu.clearRequests();
  for (const a of emu.listRoleAssignments()) emu.removeRoleAssignment(a.id);
  emu.removeResourceGroup(RG);
  emu.setVmIdentity(slot.identity);
}

afterAll(async () => {
  if (!pool) return;
  const { slots, shortLived } = await pool;
  await Promise.all([...slots, shortLived].map((s) => s.lab.emu.stop()));
});

export async function withLab(options: LabOptions, body: (lab: Lab) => Promise<void>): Promise<void> {
  const slot = await acquire();
  const own = options.shortLivedTokens ? (await getPool()).shortLived : slot;
  try {
    reset(own);
    const { emu, scope } = own.lab;
    if (options.addResourceGroup !== false) emu.addResourceGroup({ name: RG, location: "westus", tags: options.tags ?? { env: "lab" } });
    const role = options.role ?? "resourceGroup";
    if (role !== "none") {
      emu.assignRole({
        scope: role === "subscription" ? `/subscriptions/${emu.subscriptionId}` : scope,
        roleDefinitionId: READER_ROLE_ID,
        principalId: emu.vmIdentity!.principalId,
      });
    }
    for (const [endpoint, faults] of Object.entries(options.faults ?? {})) emu.injectFaults(endpoint as Endpoint, ...faults!);
    await body(own.lab);
  } finally {
    reset(own);
    release(slot);
  }
}

export async function until(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Where a probe runs: "host" on a long-lived pwsh (probeHost.ts: a fresh runspace per run, the same output
 * as a new process, no start-up cost), "process" in a pwsh of its own, as the VM runs it.
 * IDENTITYLAB_PROBE_RUNNER=process runs every case the second way (to check that both agree).
 */
export type Runner = "host" | "process";
const DEFAULT_RUNNER: Runner = process.env.IDENTITYLAB_PROBE_RUNNER === "process" ? "process" : "host";

/**
 * Runs the probe against the lab. `timing: "default"` passes no timing parameter at all, so the probe runs
 * with its own defaults (900 s deadline, 1 s backoff, 5 s cap, 20 s request timeout, 120 s fault budget).
 */
export function probe(
  lab: Lab,
  params: Record<string, string | number> = {},
  mode: "embedded" | "file" = "embedded",
  timing: "fast" | "default" = "fast",
  runner: Runner = DEFAULT_RUNNER,
): Promise<ProbeRun> {
  const scaled = timing === "fast" ? { DeadlineSeconds: 8, ...FAST } : {};
  return (runner === "process" ? runProbe : runProbeHosted)({
    mode,
    params: { SubscriptionId: lab.emu.subscriptionId, ResourceGroupName: RG, ...scaled, ...params },
    env: { IDENTITYLAB_IMDS_ENDPOINT: lab.emu.imdsUrl, IDENTITYLAB_ARM_URL: lab.emu.armUrl },
  });
}

export function leaksToken(text: string): boolean {
  return JWT_LIKE.test(text);
}

/** The contract's invariants, for every run. */
export function expectContract(run: ProbeRun): any {
  const context = `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
  if (run.code !== 0 || run.report === null)
    throw new Error(`probe exited ${run.code} (${run.signal}) without a parseable report\n${context}`);
  expect(run.stderr).toBe("");
  expect(leaksToken(run.stdout) || leaksToken(run.stderr)).toBe(false);
  expect(Buffer.byteLength(run.lastLine, "utf8")).toBeLessThan(3500);
  expect(run.lastLine).toMatch(/^[\x20-\x7e]+$/);
  expect(run.lastLine.startsWith('{"schema":"identitylab.probe/v1"')).toBe(true);
  const r = run.report;
  expect(Object.keys(r)).toEqual([
    "schema",
    "ok",
    "resourceGroup",
    "identity",
    "permissions",
    "attempts",
    "elapsedSeconds",
    "trimmed",
    "error",
  ]);
  expect(Object.keys(r.attempts)).toEqual(["imds", "resourceGroup", "permissions"]);
  expect(Array.isArray(r.trimmed)).toBe(true);
  // Progress lines are short.
  for (const line of run.stdout.split(/\r?\n/).slice(0, -2)) expect(line.length).toBeLessThan(120);
  if (r.ok) {
    expect(r.error).toBeNull();
  } else {
    expect(Object.keys(r.error)).toEqual(["phase", "status", "code", "message", "requestId"]);
    expect(typeof r.error.message).toBe("string");
  }
  return r;
}

export function requests(lab: Lab, endpoint: Endpoint) {
  return lab.emu.requests.filter((q) => q.endpoint === endpoint);
}

/** What the program would make of this run: the report read back through the extension's instance view. */
export function outcomeOf(run: ProbeRun, lab: Lab): ProbeOutcome {
  return readProbeOutcome(probeInstanceView(run.stdout) as never, RG, lab.emu.subscriptionId);
}
