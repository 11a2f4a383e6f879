/**
 * How fast does the probe notice a role assignment, and how politely does it wait?
 *
 * Runs scripts/Invoke-IdentityProbe.ps1 with its DEFAULT timing (backoff 1 s, cap 5 s,
 * request timeout 20 s, deadline 900 s) against the emulator, with the Reader role taking
 * effect T seconds after the probe's first request, for T in {0, 5, 30, 120}, all at once.
 *
 *   npx ts-node --transpile-only bench/probe.ts [T ...]
 *
 * Targets: success by T + 5 s; at most ~1 ARM call per 5 s while waiting; IMDS far below 20 req/s.
 */
import { AzureEmulator, READER_ROLE_ID } from "../offline/azure-emulator";
import { runProbe } from "../offline/pwsh";

const RG = "rg-identity-lab";

interface Row {
  T: number;
  ok: boolean;
  successS: number;
  overheadS: number;
  armWaiting: number;
  armPer5s: number | null;
  armTotal: number;
  imds: number;
  processS: number;
  /** What ARM answered from when the role took effect: normally "rg 200, perm 200". */
  after: string;
}

async function bench(T: number): Promise<Row> {
  const emu = new AzureEmulator();
  await emu.start();
  try {
    emu.addResourceGroup({ name: RG, location: "westus" });
    const grant = (effectiveAfterMs: number) =>
      emu.assignRole({
        scope: `/subscriptions/${emu.subscriptionId}/resourceGroups/${RG}`,
        roleDefinitionId: READER_ROLE_ID,
        principalId: emu.vmIdentity!.principalId,
        effectiveAfterMs,
      });
    const t0 = emu.startedAtMs; // the origin of RecordedRequest.atMs
    if (T === 0) grant(0);
    const running = runProbe({
      params: { SubscriptionId: emu.subscriptionId, ResourceGroupName: RG },
      env: { IDENTITYLAB_IMDS_ENDPOINT: emu.imdsUrl, IDENTITYLAB_ARM_URL: emu.armUrl },
      killAfterMs: 960_000,
    });
    // "Start" is the probe's first request, so pwsh's own start-up does not count against T.
    while (emu.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    const start = t0 + emu.requests[0].atMs;
    if (T > 0) grant(start + T * 1000 - Date.now());
    const effectiveAt = Math.max(start, emu.listRoleAssignments()[0].effectiveAt);
    const run = await running;
    const arm = emu.requests.filter((q) => q.endpoint === "resourceGroup" || q.endpoint === "permissions");
    const done = emu.requests.filter((q) => q.endpoint === "permissions" && q.status === 200).pop();
    const successAbs = done ? t0 + done.atMs : NaN;
    const armWaiting = arm.filter((q) => t0 + q.atMs < effectiveAt).length;
    return {
      T,
      ok: run.report?.ok === true,
      successS: (successAbs - start) / 1000,
      overheadS: (successAbs - effectiveAt) / 1000,
      armWaiting,
      armPer5s: T > 0 ? armWaiting / (T / 5) : null,
      armTotal: arm.length,
      imds: emu.requests.filter((q) => q.endpoint === "imds").length,
      processS: run.wallMs / 1000,
      after: arm
        .filter((q) => t0 + q.atMs >= effectiveAt)
        .map(
          (q) => `${q.endpoint === "permissions" ? "perm" : "rg"} ${q.status ?? "-"} @${((t0 + q.atMs - effectiveAt) / 1000).toFixed(2)}`,
        )
        .join(", "),
    };
  } finally {
    await emu.stop();
  }
}

async function main(): Promise<void> {
  const Ts = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => Number.isFinite(n) && n >= 0);
  const rows = await Promise.all((Ts.length ? Ts : [0, 5, 30, 120]).map(bench));
  const header = [
    "T (s)",
    "ok",
    "success (s)",
    "overhead (s)",
    "ARM calls waiting",
    "ARM/5s waiting",
    "ARM total",
    "IMDS calls",
    "pwsh process (s)",
    "ARM after the role took effect",
  ];
  const cells = rows.map((r) => [
    String(r.T),
    String(r.ok),
    r.successS.toFixed(2),
    r.overheadS.toFixed(2),
    String(r.armWaiting),
    r.armPer5s === null ? "-" : r.armPer5s.toFixed(2),
    String(r.armTotal),
    String(r.imds),
    r.processS.toFixed(2),
    r.after,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => `| ${c.map((x, i) => (i === c.length - 1 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join(" | ")} |`;
  console.log(line(header));
  console.log(`| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`);
  for (const c of cells) console.log(line(c));
  console.log("success and T count from the probe's first request; overhead = success - when the role took effect.");
  if (rows.some((r) => !r.ok || r.overheadS > 5)) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
