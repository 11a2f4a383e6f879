/**
 * The project installs its own PowerShell: .config/dotnet-tools.json pins it, and the
 * finder restores it with the .NET SDK on first use. A machine that cannot get it gets
 * one line that says what to install, never a skipped test or a stack trace.
 */
import { mkdtempSync, readFileSync, writeFileSync, chmodSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { findPwsh, pinnedPowerShellVersion, ToolchainError, TOOL_MANIFEST } from "../../offline/pwsh";

const root = path.join(__dirname, "..", "..");
const emptyHome = () => mkdtempSync(path.join(tmpdir(), "empty-home-"));

test("the manifest pins PowerShell 7.6.9 without roll-forward", () => {
  const manifest = JSON.parse(readFileSync(TOOL_MANIFEST, "utf8"));
  expect(manifest.tools.powershell).toEqual({ version: "7.6.9", commands: ["pwsh"], rollForward: false });
  expect(pinnedPowerShellVersion()).toBe("7.6.9");
});

test("the pinned pwsh is found where dotnet tool restore put it, without pwsh or dotnet on PATH", () => {
  const pwsh = findPwsh();
  // The default lookup restored (or found) the tool in this user's NuGet folder; point an
  // empty HOME at that folder and take dotnet away: nothing needs restoring, so it still works.
  const packages = process.env.NUGET_PACKAGES || path.join(homedir(), ".nuget", "packages");
  expect(findPwsh({ PATH: "/nonexistent", NUGET_PACKAGES: packages }, emptyHome())).toBe(pwsh);
  const r = spawnSync(pwsh, ["-NoProfile", "-NonInteractive", "-Command", "$PSVersionTable.PSVersion.ToString()"], { encoding: "utf8" });
  expect(r.stdout.trim()).toBe("7.6.9");
});

test("PWSH overrides the pinned tool, and a PWSH that is not executable is an error", () => {
  const dir = emptyHome();
  const fake = path.join(dir, "my-pwsh");
  writeFileSync(fake, "#!/bin/sh\n");
  chmodSync(fake, 0o755);
  expect(findPwsh({ PWSH: fake, PATH: "" }, dir)).toBe(fake);
  expect(() => findPwsh({ PWSH: path.join(dir, "missing") }, dir)).toThrow(ToolchainError);
  expect(() => findPwsh({ PWSH: path.join(dir, "missing") }, dir)).toThrow(/^PWSH=.*missing is not an executable file/);
});

test("with neither the tool nor dotnet, the error is one line that says what to install", () => {
  let error: unknown;
  try {
    findPwsh({ PATH: "/nonexistent" }, emptyHome());
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ToolchainError);
  const message = (error as Error).message;
  expect(message).not.toContain("\n");
  expect(message).toMatch(
    /PowerShell 7\.6\.9 .* `dotnet` is not on PATH: install the \.NET SDK 10 \(Debian\/Ubuntu: `sudo apt-get install dotnet-sdk-10\.0`/,
  );
});

test("npm run rehearse on a machine without dotnet prints that one line and no stack trace", () => {
  const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "offline/cli.ts"], {
    cwd: root,
    encoding: "utf8",
    env: { PATH: "/nonexistent", HOME: emptyHome() },
    timeout: 60_000,
  });
  expect(r.status).toBe(1);
  expect(r.stdout).toBe("");
  expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^identity-lab: PowerShell 7\.6\.9 .* install the \.NET SDK 10/)]);
});
