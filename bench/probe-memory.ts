/**
 * How much memory does the probe take when ARM (or IMDS) sends a body that never ends?
 *
 * Runs the embedded probe (as on the VM) at its default timing against the emulator, once
 * normally and once per endless body, and reads the pwsh process's peak resident set size
 * (VmHWM from /proc/<pid>/status, sampled until it exits; /usr/bin/time -v's "Maximum
 * resident set size" when that tool is there, which also counts the final moments).
 *
 *   npm run bench:probe-memory
 *
 * Target: under 300 MB against an endless ARM body (the probe reads at most ~1 MiB of it).
 * Exits 1 when the target is missed.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { AzureEmulator, READER_ROLE_ID, type Endpoint } from "../offline/azure-emulator";
import { findPwsh, minifyProbe, psQuote, pwshEnv } from "../offline/pwsh";
import { PROBE_SCRIPT_PATH } from "../probe/command";

const RG = "rg-identity-lab";
const TARGET_MB = 300;
const TIME = "/usr/bin/time";

interface Row {
  readonly scenario: string;
  readonly peakMB: number;
  readonly source: string;
  readonly code: string | null;
  readonly seconds: number;
}

function vmHwmKb(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function measure(scenario: string, endless: Endpoint | null): Promise<Row> {
  const emu = new AzureEmulator();
  await emu.start();
  try {
    emu.addResourceGroup({ name: RG, location: "westus" });
    emu.assignRole({
      scope: `/subscriptions/${emu.subscriptionId}/resourceGroups/${RG}`,
      roleDefinitionId: READER_ROLE_ID,
      principalId: emu.vmIdentity!.principalId,
    });
    if (endless) emu.injectFaults(endless, ...Array.from({ length: 50 }, () => ({ endless: true })));
    const file = path.join(mkdtempSync(path.join(tmpdir(), "probe-mem-")), "probe.min.ps1");
    writeFileSync(file, minifyProbe(readFileSync(PROBE_SCRIPT_PATH, "utf8")), "utf8");
    const call = `$t=[IO.File]::ReadAllText(${psQuote(file)});& ([scriptblock]::Create($t)) -SubscriptionId ${psQuote(emu.subscriptionId)} -ResourceGroupName ${psQuote(RG)}`;
    const pwshArgs = ["-NoProfile", "-NonInteractive", "-Command", call];
    const useTime = existsSync(TIME);
    const started = Date.now();
    const child = spawn(useTime ? TIME : findPwsh(), useTime ? ["-v", findPwsh(), ...pwshArgs] : pwshArgs, {
      env: pwshEnv({ IDENTITYLAB_IMDS_ENDPOINT: emu.imdsUrl, IDENTITYLAB_ARM_URL: emu.armUrl }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    // Under /usr/bin/time the pwsh process is the child's child: sample every process in the tree.
    let sampledKb = 0;
    const sample = setInterval(() => {
      const pids = [child.pid!];
      try {
        const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim();
        if (kids) pids.push(...kids.split(/\s+/).map(Number));
      } catch {
        // gone already
      }
      for (const pid of pids) sampledKb = Math.max(sampledKb, vmHwmKb(pid));
    }, 20);
    const killer = setTimeout(() => child.kill("SIGKILL"), 300_000);
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    clearInterval(sample);
    clearTimeout(killer);
    const timed = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
    const peakKb = Math.max(sampledKb, timed ? Number(timed[1]) : 0);
    const report = JSON.parse(stdout.trim().split(/\r?\n/).pop() ?? "null") as { error?: { code?: string } } | null;
    if (code !== 0 || report === null) throw new Error(`${scenario}: the probe exited ${code} without a report\n${stdout}\n${stderr}`);
    return {
      scenario,
      peakMB: Math.round(peakKb / 1024),
      source: timed ? "/usr/bin/time -v and VmHWM" : "VmHWM",
      code: report.error?.code ?? "ok",
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
  } finally {
    await emu.stop();
  }
}

async function main(): Promise<number> {
  const rows = [
    await measure("normal run (baseline)", null),
    await measure("endless ARM body", "resourceGroup"),
    await measure("endless IMDS body", "imds"),
  ];
  console.table(rows);
  const arm = rows[1];
  const ok = arm.peakMB > 0 && arm.peakMB < TARGET_MB && arm.code === "ResponseTooLarge";
  console.log(
    `${ok ? "PASS" : "FAIL"}: peak RSS against an endless ARM body is ${arm.peakMB} MB (target < ${TARGET_MB} MB), reported as ${arm.code}.`,
  );
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(2);
  },
);
