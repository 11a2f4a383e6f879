/**
 * The pooled pwsh host (probeHost.ts) must be indistinguishable from a fresh pwsh process, or
 * the probe suites that use it would prove less than they claim: the same stdout, stderr and
 * exit code for each kind of ending, and nothing carried from one run to the next (environment
 * variables, variables, functions, strict mode, preferences).
 */
import { findPwsh, pwshEnv } from "../../offline/pwsh";
import { runToEnd } from "../../offline/process";
import { runHosted, runProbeHosted, withHost } from "./probeHost";
import { expectContract, probe, RG, until, withLab } from "./probeLab";
import { PwshPool } from "../../offline/pwshHost";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

const fresh = (command: string, env: Record<string, string> = {}) =>
  runToEnd(findPwsh(), ["-NoProfile", "-NonInteractive", "-Command", command], { env: pwshEnv(env) });

const dir = mkdtempSync(path.join(tmpdir(), "probe-host-"));
const mandatory = path.join(dir, "mandatory.ps1");
writeFileSync(mandatory, "param([Parameter(Mandatory)][string]$A) $A\n");

// One fresh pwsh each (about 1 CPU-s apiece), so one case per way a run can end.
const ENDINGS: Record<string, string> = {
  "output, [Console]::Out, a warning, Write-Host, formatted objects, this run's environment and a non-terminating error":
    "'hello'; [Console]::Out.WriteLine('direct'); Write-Warning 'warn'; Write-Host 'host'; Write-Error 'boom'; Get-Date -Year 2020 -Month 1 -Day 1 | Select-Object Year; [Environment]::GetEnvironmentVariable('IDENTITYLAB_HOST_TEST'); 'after'",
  "a non-terminating error as the last statement (exit 1)": "'x'; Write-Error 'last'",
  "a terminating error under ErrorActionPreference Stop": "$ErrorActionPreference = 'Stop'; 'a'; Write-Error 'stop'; 'never'",
  "exit with a code": "'before'; exit 3; 'never'",
  "exit without a code after a failed statement": "Write-Error 'failed'; exit",
  "a script file's missing mandatory parameter, without a final newline": `[Console]::Out.Write('no newline'); & '${mandatory}'`,
};

describe("a hosted run is what a fresh pwsh process would do", () => {
  test.concurrent.each(Object.entries(ENDINGS))("%s", async (_name, command) => {
    const env = { IDENTITYLAB_HOST_TEST: "per-run" };
    const [hosted, own] = await Promise.all([runHosted(command, env), fresh(command, env)]);
    expect({ code: hosted.code, stdout: hosted.stdout, stderr: hosted.stderr }).toEqual({
      code: own.code,
      stdout: own.stdout,
      stderr: own.stderr,
    });
    // Both saw this run's variable (not merely both without it).
    if (command.includes("IDENTITYLAB_HOST_TEST")) expect(hosted.stdout).toContain("per-run\n");
  });

  test("negative control: the comparison above sees a difference in output and in exit codes", async () => {
    const [a, b, c] = await Promise.all([runHosted("'a'"), runHosted("'b'"), runHosted("exit 2")]);
    expect(a.stdout).not.toBe(b.stdout);
    expect(c.code).toBe(2);
  });
});

describe("nothing crosses from one hosted run to the next", () => {
  test("environment variables, variables, functions, strict mode and preferences are the run's own", () =>
    withHost(async (host) => {
      const first = await host.run(
        [
          "[Environment]::GetEnvironmentVariable('IDENTITYLAB_DEADLINE_SECONDS')",
          "$global:leak = 'left'; $script:leak2 = 'left'; function Get-Leak { 'left' }",
          "Set-StrictMode -Version Latest; $ErrorActionPreference = 'Stop'; $WarningPreference = 'SilentlyContinue'",
        ].join("\n"),
        { IDENTITYLAB_DEADLINE_SECONDS: "5", IDENTITYLAB_IMDS_ENDPOINT: "http://127.0.0.1:1" },
      );
      expect(first).toMatchObject({ code: 0, stdout: "5\n", stderr: "" });
      const second = await host.run(
        [
          "'deadline=' + [Environment]::GetEnvironmentVariable('IDENTITYLAB_DEADLINE_SECONDS')",
          "'imds=' + [Environment]::GetEnvironmentVariable('IDENTITYLAB_IMDS_ENDPOINT')",
          "'leak=' + $leak + $leak2",
          "'function=' + [bool](Get-Command Get-Leak -ErrorAction SilentlyContinue)",
          "'eap=' + $ErrorActionPreference; 'wp=' + $WarningPreference",
          // Strict mode off again: an undefined variable reads as $null instead of throwing.
          "'strict=' + ($null -eq $undefinedVariable)",
        ].join("\n"),
        { IDENTITYLAB_ARM_URL: "http://127.0.0.1:2" },
      );
      expect(second).toMatchObject({ code: 0, stderr: "" });
      expect(second.stdout.split("\n").filter(Boolean)).toEqual([
        "deadline=",
        "imds=",
        "leak=",
        "function=False",
        "eap=Continue",
        "wp=Continue",
        "strict=True",
      ]);
      const third = await host.run("'arm=' + [Environment]::GetEnvironmentVariable('IDENTITYLAB_ARM_URL')");
      expect(third.stdout).toBe("arm=\n");
    }));

  test("negative control: within one run the same checks do see what was set", async () => {
    const r = await runHosted("$global:leak = 'left'; function Get-Leak { 'left' }; 'leak=' + $leak; [bool](Get-Command Get-Leak)", {
      IDENTITYLAB_DEADLINE_SECONDS: "5",
    });
    expect(r.stdout).toBe("leak=left\nTrue\n");
  });

  test("a run that calls exit ends with its code, and the same host runs the next command", () =>
    withHost(async (host) => {
      expect(await host.run("'before'; exit 3; 'never'")).toMatchObject({ code: 3, stdout: "before\n", stderr: "" });
      expect(host.alive).toBe(true);
      expect(await host.run("'after'; exit")).toMatchObject({ code: 0, stdout: "after\n" });
      expect(await host.run("'next'")).toMatchObject({ code: 0, stdout: "next\n", stderr: "" });
      expect(host.alive).toBe(true);
    }));

  test("a run killed after its time ends like a killed process, and the pool carries on with a new host", async () => {
    const killed = await runHosted("'started'; [Console]::Out.Flush(); Start-Sleep -Seconds 30", {}, 2000);
    expect(killed).toMatchObject({ code: null, signal: "SIGKILL" });
    expect(killed.stdout).toContain("started");
    const next = await runHosted("'next'");
    expect(next).toMatchObject({ code: 0, stdout: "next\n", stderr: "" });
  });
});

describe("the pool keeps track of its hosts", () => {
  test("a host that died while held is let go without dropping another: close() ends every host it started", async () => {
    const pool = new PwshPool(findPwsh(), 2);
    let other = 0;
    try {
      await pool.withHost(async (dead) => {
        expect((await dead.run("'up'")).stdout).toBe("up\n");
        process.kill(dead.pid!, "SIGKILL");
        await until(() => !dead.alive);
        // A run while the dead host is still held: the pool starts a second host for it.
        other = Number((await pool.run("[Diagnostics.Process]::GetCurrentProcess().Id")).stdout.trim());
      });
      await pool.close();
      expect(other).toBeGreaterThan(0);
      expect(() => process.kill(other, 0)).toThrow(/ESRCH/);
    } finally {
      // Not when unset: process.kill(0) would signal jest's whole process group.
      if (other > 0) {
        try {
          process.kill(other, "SIGKILL");
        } catch {
          // Already gone, as it should be.
        }
      }
    }
  });
});

describe("the probe on a host reports what it reports in its own process", () => {
  /** What may differ between two runs: timing and the token's expiry. */
  const stable = (r: any) => ({ ...r, elapsedSeconds: 0, identity: r.identity && { ...r.identity, expiresOn: "" } });

  test.each(["embedded", "file"] as const)("%s", async (mode) => {
    await withLab({}, async (lab) => {
      const own = expectContract(await probe(lab, {}, mode, "fast", "process"));
      lab.emu.clearRequests();
      const hosted = expectContract(await probe(lab, {}, mode, "fast", "host"));
      expect(hosted.ok).toBe(true);
      expect(stable(hosted)).toEqual(stable(own));
    });
  });

  test("a run's IDENTITYLAB_DEADLINE_SECONDS applies to that run only", async () => {
    await withLab({ role: "none" }, async (lab) => {
      const env = { IDENTITYLAB_IMDS_ENDPOINT: lab.emu.imdsUrl, IDENTITYLAB_ARM_URL: lab.emu.armUrl };
      const params = { SubscriptionId: lab.emu.subscriptionId, ResourceGroupName: RG, RetryBaseSeconds: 0.05, RetryCapSeconds: 0.2 };
      // The role never arrives, so the probe waits out its deadline: 1 s from the environment, then 2.5 s from -DeadlineSeconds.
      const short = expectContract(
        await runProbeHosted({ params: { ...params, DeadlineSeconds: 8 }, env: { ...env, IDENTITYLAB_DEADLINE_SECONDS: "1" } }),
      );
      const long = expectContract(await runProbeHosted({ params: { ...params, DeadlineSeconds: 2.5 }, env }));
      expect(short.elapsedSeconds).toBeLessThan(1.8);
      expect(long.elapsedSeconds).toBeGreaterThanOrEqual(2.3);
      expect(long.error.code).toBe("AuthorizationFailed");
      // The 1 s deadline may cut a request in flight on a loaded machine; the probe then names that request's fate.
      expect(["AuthorizationFailed", "SlowResponse", "Timeout"]).toContain(short.error.code);
    });
  });
});
