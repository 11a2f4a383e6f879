/**
 * No answer makes the probe end without its report. A table of malformed IMDS token
 * responses and ARM bodies, and a seeded generator that adds random ones, are served
 * by the emulator; every run must end with a parseable report (read back through
 * probe/report.ts) whose outcome is not success, with nothing on stderr and no
 * token-like text echoed.
 *
 * Starting pwsh costs ~1 s, so the cases run in two long-lived pwsh processes (one
 * for IMDS answers, one for ARM answers) that invoke the embedded probe once per case
 * and catch anything that escapes it: an escaped error is what would have been a
 * non-zero exit without a report on the VM. The classes that used to kill the probe
 * (non-numeric expires_on, a string or out-of-range exp claim) also run as separate
 * processes, where the exit code itself is checked.
 *
 * Reproduce one failure: the message names the seed and the case.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { AzureEmulator, READER_ROLE_ID, type Endpoint, type Fault } from "../../offline/azure-emulator";
import { probeInstanceView } from "../../offline/mockAzure";
import { findPwsh, minifyProbe, psQuote, pwshEnv, runProbe } from "../../offline/pwsh";
import { PROBE_SCRIPT_PATH } from "../../probe/command";
import { readProbeOutcome } from "../../probe/report";
import { JWT_LIKE, RG } from "./probeLab";

const SEED = 20261202;
const GENERATED = 24;
// Short, but long enough for one real IMDS or ARM round trip on a busy machine. A refused ARM
// port ends IMDS cases fast whatever token they accepted.
const TIMING = { DeadlineSeconds: 2, FaultBudgetSeconds: 0.2, RetryBaseSeconds: 0.02, RetryCapSeconds: 0.05, RequestTimeoutSeconds: 1.5 };
const CLOSED_PORT = "http://127.0.0.1:9";
const END = "<<<CASE-END>>>";

// ------------------------------------------------------------------ a small seeded PRNG (mulberry32)

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const b64url = (s: string | Buffer) => Buffer.from(s).toString("base64url");

const ODD_STRINGS = [
  "",
  " ",
  "x",
  "null",
  "NaN",
  "Infinity",
  "-1",
  "1e400",
  "9".repeat(40),
  "2026-01-01T00:00:00Z",
  "caf\u00e9 \u2603",
  "a\nb\r\n{",
  '"quoted"',
  "\u0000\u0001",
  "\ud800",
];
const ODD_NUMBERS = [0, -1, 1, 1.5, -1e308, 1e308, 2 ** 53 + 1, 253402300800, 1e15, -62135596801];

function scalar(r: Rand): unknown {
  switch (Math.floor(r() * 5)) {
    case 0:
      return pick(r, [null, true, false]);
    case 1:
      return pick(r, ODD_NUMBERS);
    case 2:
      return pick(r, ODD_STRINGS);
    case 3:
      return Math.floor(r() * 4e9);
    default:
      return Array.from({ length: Math.floor(r() * 12) }, () => String.fromCharCode(32 + Math.floor(r() * 95))).join("");
  }
}

const KEYS = [
  "id",
  "name",
  "value",
  "error",
  "code",
  "message",
  "properties",
  "provisioningState",
  "tags",
  "actions",
  "notActions",
  "exp",
  "x",
];

function value(r: Rand, depth = 0): unknown {
  const k = r();
  if (depth > 3 || k < 0.45) return scalar(r);
  if (k < 0.7) return Array.from({ length: Math.floor(r() * 4) }, () => value(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 5); i > 0; i--) o[pick(r, KEYS)] = value(r, depth + 1);
  return o;
}

/** Text that is not JSON, or JSON that some parsers choke on. */
function rawText(r: Rand): string {
  const good = JSON.stringify(value(r));
  return pick(r, [
    good.slice(0, Math.max(1, Math.floor(good.length * r()))),
    `\ufeff${good}`,
    `${"[".repeat(3000)}${"]".repeat(3000)}`,
    '{"a":1,"A":2}',
    "<html><body>Proxy error</body></html>",
    "1e400",
    "",
    "\u0000",
    `${good}garbage`,
  ]);
}

function jwtish(r: Rand): string {
  const claims: Record<string, unknown> = { aud: "https://management.azure.com/", oid: scalar(r), tid: scalar(r), exp: scalar(r) };
  if (r() < 0.3) claims.exp = pick(r, ["1999999999", 1e20, -5, 1.5e9, [1999999999], { v: 1 }]);
  const payload = pick(r, [JSON.stringify(claims), JSON.stringify(value(r)), rawText(r), "[1,2]", '"str"']);
  const parts = [b64url('{"alg":"RS256","typ":"JWT"}'), b64url(payload), b64url(String(r()))];
  return pick(r, [
    parts.join("."),
    parts.slice(0, 2).join("."),
    [...parts, "x", "y"].join("."),
    `${parts.join(".")} tail`,
    parts.join(".").replace(/-/g, "+"),
    `${parts[0]}.!!!.${parts[2]}`,
  ]);
}

function imdsBody(r: Rand): string {
  if (r() < 0.2) return rawText(r);
  const o: Record<string, unknown> = {
    access_token: r() < 0.7 ? jwtish(r) : value(r),
    expires_on: r() < 0.5 ? scalar(r) : String(Math.floor(Date.now() / 1000) + 3600),
    token_type: "Bearer",
  };
  if (r() < 0.2) delete o.access_token;
  return JSON.stringify(o);
}

function rgBody(r: Rand, id: string): string {
  if (r() < 0.25) return rawText(r);
  if (r() < 0.3) return JSON.stringify(value(r));
  if (r() < 0.2) return JSON.stringify({ error: { code: value(r), message: value(r) } });
  // Almost a group: one part is always wrong.
  const g: Record<string, unknown> = { id, name: RG, location: "westus", properties: { provisioningState: "Succeeded" }, tags: value(r) };
  const flaw = pick(r, ["id", "name", "properties", "provisioningState"]);
  if (flaw === "provisioningState") g.properties = { provisioningState: pick(r, [null, 1, [], "", { a: 1 }]) };
  else if (flaw === "id")
    g.id = pick(r, [null, 1, "", id.replace(RG, "other-rg"), `${id}/x`, id.replace(/^\/subscriptions\/[^/]+/, "/subscriptions/0")]);
  else g[flaw] = pick(r, [null, 1, [], "", "other-rg", { a: 1 }]);
  return JSON.stringify(g);
}

function permissionsBody(r: Rand): string {
  if (r() < 0.25) return rawText(r);
  if (r() < 0.25) return JSON.stringify(value(r));
  // Almost a list: one entry is always wrong.
  const entries: unknown[] = [{ actions: ["*/read"], notActions: [], dataActions: [], notDataActions: [] }];
  const bad: Record<string, unknown> = { actions: ["*/read"], notActions: [] };
  bad[pick(r, ["actions", "notActions", "dataActions", "notDataActions"])] = pick(r, [null, "*/read", [1], [null], [["a"]], { a: 1 }]);
  entries.splice(Math.floor(r() * 2), 0, pick(r, [bad, null, 1, "x", []]));
  return JSON.stringify({ value: entries });
}

// ------------------------------------------------------------------ the tables

interface Case {
  readonly name: string;
  readonly endpoint: Endpoint;
  readonly fault: Fault;
}

const now = () => Math.floor(Date.now() / 1000);
const token = (claims: Record<string, unknown>) => `${b64url('{"alg":"RS256","typ":"JWT"}')}.${b64url(JSON.stringify(claims))}.c2ln`;
const tokenBody = (access_token: unknown, expires_on: unknown = String(now() + 3600)) =>
  JSON.stringify({ access_token, expires_on, token_type: "Bearer" });

/** The IMDS classes the sweep found, and their neighbours. */
const IMDS_TABLE: Case[] = [
  ["non-numeric expires_on", tokenBody(token({ oid: "o" }), "soon")],
  ["exp claim a string", tokenBody(token({ exp: "tomorrow" }), "soon")],
  ["exp claim out of range", tokenBody(token({ exp: 1e20 }), "1e20")],
  ["exp claim negative", tokenBody(token({ exp: -5 }), "-5")],
  ["exp claim an object", tokenBody(token({ exp: { v: 1 } }), [1])],
  ["payload not base64", tokenBody("eyJhbGciOiJSUzI1NiJ9.%%%.c2ln")],
  ["payload a JSON array", tokenBody(`${b64url("{}")}.${b64url("[1,2]")}.c2ln`)],
  ["five segments (JWE)", tokenBody("a.b.c.d.e")],
  ["token with a space", tokenBody(`${token({ exp: now() + 3600 })} x`)],
  ["access_token a number", tokenBody(12345)],
  ["access_token an object", tokenBody({ token: "x" })],
  ["access_token empty", tokenBody("")],
  ["body null", "null"],
  ["body an array", "[]"],
  ["body truncated", '{"access_token":"eyJ'],
  ["deep nesting", `${"[".repeat(5000)}${"]".repeat(5000)}`],
].map(([name, body]) => ({ name: `imds: ${name}`, endpoint: "imds" as const, fault: { body: body as string } }));

const ARM_TABLE: Case[] = [
  ["resourceGroup", "an error envelope", '{"error":{"code":"X","message":"y"}}'],
  ["resourceGroup", "{}", "{}"],
  ["resourceGroup", "a JSON string", '"rg"'],
  ["resourceGroup", "a huge number", "1e400"],
  ["resourceGroup", "case-duplicate keys at the top", '{"id":"x","ID":"y"}'],
  ["permissions", "{}", "{}"],
  ["permissions", "value null", '{"value":null}'],
  ["permissions", "an entry that is a string", '{"value":["*/read"]}'],
].map(([endpoint, name, body]) => ({ name: `${endpoint}: ${name}`, endpoint: endpoint as Endpoint, fault: { body } }));

function generated(r: Rand, scope: string): { imds: Case[]; arm: Case[] } {
  const imds: Case[] = [];
  const arm: Case[] = [];
  for (let i = 0; i < GENERATED; i++) {
    imds.push({ name: `imds: generated #${i}`, endpoint: "imds", fault: { body: imdsBody(r) } });
    const status = pick(r, [200, 200, 200, 200, 400, 404, 500, 503]);
    const endpoint: Endpoint = r() < 0.5 ? "resourceGroup" : "permissions";
    const body =
      status !== 200 && r() < 0.5
        ? JSON.stringify({ error: value(r) })
        : endpoint === "resourceGroup"
          ? rgBody(r, scope)
          : permissionsBody(r);
    arm.push({ name: `${endpoint}: generated #${i} (${status})`, endpoint, fault: { status, body } });
  }
  return { imds, arm };
}

// ------------------------------------------------------------------ one pwsh process, many probe runs

class ProbeBatch {
  private readonly child: ChildProcessWithoutNullStreams;
  private out = "";
  private err = "";
  private waiter: ((text: string) => void) | null = null;
  private readonly exited: Promise<number | null>;

  constructor(env: Record<string, string>) {
    const dir = mkdtempSync(path.join(tmpdir(), "probe-batch-"));
    const file = path.join(dir, "probe.min.ps1");
    writeFileSync(file, minifyProbe(readFileSync(PROBE_SCRIPT_PATH, "utf8")), "utf8");
    const runner = [
      `$sb = [scriptblock]::Create([IO.File]::ReadAllText(${psQuote(file)}))`,
      "while ($null -ne ($l = [Console]::In.ReadLine())) {",
      "  $a = @{}; foreach ($x in (ConvertFrom-Json $l).PSObject.Properties) { $a[$x.Name] = $x.Value }",
      "  try { & $sb @a | ForEach-Object { [Console]::Out.WriteLine($_) } } catch { [Console]::Out.WriteLine('PROBE-THREW ' + $_.Exception.GetType().Name) }",
      `  [Console]::Out.WriteLine('${END}')`,
      "}",
    ].join("\n");
    this.child = spawn(findPwsh(), ["-NoProfile", "-NonInteractive", "-Command", runner], { env: pwshEnv(env), stdio: "pipe" });
    this.child.stdout.setEncoding("utf8").on("data", (d: string) => {
      this.out += d;
      const at = this.out.indexOf(`${END}\n`);
      if (at >= 0 && this.waiter) {
        const text = this.out.slice(0, at);
        this.out = this.out.slice(at + END.length + 1);
        const w = this.waiter;
        this.waiter = null;
        w(text);
      }
    });
    this.child.stderr.setEncoding("utf8").on("data", (d: string) => (this.err += d));
    this.exited = new Promise((resolve) => this.child.on("close", (code) => resolve(code)));
  }

  run(params: Record<string, string | number>): Promise<string> {
    return new Promise((resolve) => {
      this.waiter = resolve;
      this.child.stdin.write(`${JSON.stringify(params)}\n`);
    });
  }

  get stderr(): string {
    return this.err;
  }

  async close(): Promise<number | null> {
    this.child.stdin.end();
    return this.exited;
  }
}

/** What is wrong with one run's output, or null. */
function problemWith(stdout: string, subscriptionId: string): string | null {
  if (stdout.includes("PROBE-THREW")) return `an error escaped the probe: ${stdout.slice(stdout.indexOf("PROBE-THREW"))}`;
  if (JWT_LIKE.test(stdout)) return "token-like text on stdout";
  const lines = stdout.split(/\r?\n/).filter((l) => l.trim());
  const last = lines[lines.length - 1] ?? "";
  if (!last.startsWith('{"schema":"identitylab.probe/v1"')) return `the last line is not a report: ${last.slice(0, 200)}`;
  if (!/^[\x20-\x7e]+$/.test(last) || Buffer.byteLength(last) >= 3500) return "the report is not short ASCII";
  for (const l of lines.slice(0, -1)) if (l.length >= 120 || l.startsWith("{")) return `a progress line is odd: ${l.slice(0, 200)}`;
  const o = readProbeOutcome(probeInstanceView(stdout) as never, RG, subscriptionId);
  if (o.status === "unreadable") return `the report is unreadable: ${o.cause}`;
  if (o.status === "succeeded") return "a malformed answer was taken for success";
  return null;
}

async function startEmulator(): Promise<{ emu: AzureEmulator; scope: string }> {
  const emu = new AzureEmulator();
  await emu.start();
  emu.addResourceGroup({ name: RG, location: "westus", tags: { env: "lab" } });
  const scope = `/subscriptions/${emu.subscriptionId}/resourceGroups/${RG}`;
  emu.assignRole({ scope, roleDefinitionId: READER_ROLE_ID, principalId: emu.vmIdentity!.principalId });
  return { emu, scope };
}

async function runBatch(cases: Case[], emu: AzureEmulator, armUrl: string): Promise<string[]> {
  const batch = new ProbeBatch({ IDENTITYLAB_IMDS_ENDPOINT: emu.imdsUrl, IDENTITYLAB_ARM_URL: armUrl });
  const failures: string[] = [];
  try {
    for (const c of cases) {
      emu.clearFaults();
      // Every attempt gets the same bad answer: a retry must not be rescued by a good one.
      emu.injectFaults(c.endpoint, ...Array.from({ length: 40 }, () => ({ ...c.fault })));
      const stdout = await batch.run({ SubscriptionId: emu.subscriptionId, ResourceGroupName: RG, ...TIMING });
      const problem = problemWith(stdout, emu.subscriptionId);
      if (problem) failures.push(`seed ${SEED}, ${c.name}: ${problem}\n  body: ${String(c.fault.body).slice(0, 300)}`);
    }
  } finally {
    emu.clearFaults();
    const code = await batch.close();
    if (code !== 0) failures.push(`the batch pwsh exited ${code}`);
    if (batch.stderr) failures.push(`stderr: ${batch.stderr.slice(0, 1000)}`);
  }
  return failures;
}

describe("no IMDS or ARM answer makes the probe end without its report", () => {
  let labs: Array<{ emu: AzureEmulator; scope: string }> = [];
  beforeAll(async () => {
    labs = [await startEmulator(), await startEmulator()];
  });
  afterAll(async () => {
    await Promise.all(labs.map((l) => l.emu.stop()));
  });

  test("the generator is deterministic, and another seed gives other cases", () => {
    const a = generated(prng(SEED), "/s");
    const b = generated(prng(SEED), "/s");
    expect(a).toEqual(b);
    expect(new Set(a.imds.map((c) => c.fault.body)).size).toBeGreaterThan(GENERATED / 2);
    expect(JSON.stringify(generated(prng(SEED + 1), "/s"))).not.toBe(JSON.stringify(a));
  });

  test.concurrent(
    `IMDS: ${IMDS_TABLE.length} table cases and ${GENERATED} generated ones`,
    async () => {
      const { emu, scope } = labs[0];
      const cases = [...IMDS_TABLE, ...generated(prng(SEED), scope).imds];
      // ARM refuses connections here, so whatever token a case slips through ends fast, and never as success.
      expect(await runBatch(cases, emu, CLOSED_PORT)).toEqual([]);
    },
    240_000,
  );

  test.concurrent(
    `ARM: ${ARM_TABLE.length} table cases and ${GENERATED} generated ones`,
    async () => {
      const { emu, scope } = labs[1];
      const cases = [...ARM_TABLE, ...generated(prng(SEED), scope).arm];
      expect(await runBatch(cases, emu, emu.armUrl)).toEqual([]);
    },
    240_000,
  );

  test.concurrent.each(IMDS_TABLE.slice(0, 3).map((c) => [c.name, c] as const))(
    "as its own process, %s ends with exit 0 and a report",
    async (_name, c) => {
      const { emu } = labs[0];
      const body = c.fault.body!;
      const server = await import("node:http");
      // A private IMDS for this case: the shared emulators' fault queues belong to the batches.
      const imds = server.createServer((_req, res) => res.writeHead(200, { "Content-Type": "application/json" }).end(body));
      await new Promise<void>((resolve) => imds.listen(0, "127.0.0.1", resolve));
      try {
        const port = (imds.address() as { port: number }).port;
        const run = await runProbe({
          params: { SubscriptionId: emu.subscriptionId, ResourceGroupName: RG, ...TIMING },
          env: { IDENTITYLAB_IMDS_ENDPOINT: `http://127.0.0.1:${port}`, IDENTITYLAB_ARM_URL: CLOSED_PORT },
        });
        expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" });
        expect(problemWith(run.stdout, emu.subscriptionId)).toBeNull();
      } finally {
        await new Promise((resolve) => imds.close(resolve));
      }
    },
  );
});
