import { spawnSync } from "node:child_process";
import { inflateRawSync } from "node:zlib";
import {
  CMD_LINE_LIMIT,
  COMMAND_BUDGET,
  ProbeCommandTooLongError,
  minifyPowerShell,
  packDense,
  probeForceUpdateTag,
  psQuote,
  readProbeScript,
  renderBootstrap,
  renderProbeCommand,
  unpackDense,
} from "./command";
import { findPwsh, pwshEnv } from "../offline/pwsh";

const params = {
  subscriptionId: "00000000-1111-2222-3333-444444444444",
  resourceGroupName: "idlab-rg1234",
  armEndpoint: "https://management.azure.com/",
  deadlineSeconds: 900,
};

function decodeEncodedCommand(command: string): string {
  const b64 = command.split(" ").pop()!;
  return Buffer.from(b64, "base64").toString("utf16le");
}

describe("dense packing", () => {
  test.each([0, 1, 2, 14, 15, 16, 255, 4096])("round-trips %i random bytes", (n) => {
    const bytes = Buffer.from(Array.from({ length: n }, (_, i) => (i * 131 + 7) % 256));
    expect(unpackDense(packDense(bytes), n).equals(bytes)).toBe(true);
  });

  test("uses only U+4000..U+BFFF: no surrogates, no quote characters", () => {
    const all = Buffer.from(Array.from({ length: 65536 }, (_, i) => (i * 2654435761) >>> 24));
    const packed = packDense(all);
    expect(packed.length).toBe(Math.ceil((all.length * 8) / 15));
    expect(packed).toMatch(/^[\u4000-\ubfff]+$/);
  });
});

describe("renderProbeCommand", () => {
  const script = readProbeScript();
  const command = renderProbeCommand(script, params);

  test("is the documented powershell invocation, well under cmd.exe's limit", () => {
    expect(command).toMatch(/^powershell -ExecutionPolicy Bypass -NoProfile -NonInteractive -EncodedCommand [A-Za-z0-9+/]+=*$/);
    expect(command.length).toBeLessThanOrEqual(COMMAND_BUDGET);
    expect(COMMAND_BUDGET).toBeLessThan(CMD_LINE_LIMIT);
  });

  test("carries the minified script intact and the parameters quoted", () => {
    const bootstrap = decodeEncodedCommand(command);
    const packed = /^\$d='([^']*)';\$n=(\d+);/.exec(bootstrap)!;
    const script2 = inflateRawSync(unpackDense(packed[1], Number(packed[2]))).toString("utf8");
    expect(script2).toBe(minifyPowerShell(script));
    expect(bootstrap).toContain(
      `-SubscriptionId '${params.subscriptionId}' -ResourceGroupName 'idlab-rg1234' -ArmEndpoint 'https://management.azure.com/' -DeadlineSeconds 900`,
    );
  });

  test("the guard refuses a command past the budget, naming the limit", () => {
    // Incompressible text: what a script far too large for cmd.exe would do.
    const huge = Array.from({ length: 3000 }, (_, i) => `$v${i} = '${((i * 7919) % 100003).toString(36)}${i}'`).join("\n");
    expect(() => renderProbeCommand(huge, params)).toThrow(ProbeCommandTooLongError);
    expect(() => renderProbeCommand(huge, params)).toThrow(/budget is 7600 \(cmd.exe stops at 8191\)/);
  });

  test("the longest parameters still fit: a 90-character group name, the longest cloud endpoint, a 4-digit deadline", () => {
    const longest = {
      subscriptionId: params.subscriptionId,
      // ARM's limit for resource group names (Microsoft.Resources naming rules); quotes, which psQuote doubles, would
      // make it longer, but a group name cannot hold them.
      resourceGroupName: `${"r".repeat(43)}.${"(x)-_".repeat(9)}r`,
      armEndpoint: "https://management.usgovcloudapi.net/",
      deadlineSeconds: 5100,
    };
    expect(longest.resourceGroupName).toHaveLength(90);
    const worst = renderProbeCommand(script, longest);
    expect(worst.length).toBeLessThanOrEqual(COMMAND_BUDGET);
  });

  test("quotes single quotes and their typographic twins", () => {
    expect(psQuote("it's")).toBe("'it''s'");
    expect(psQuote("a\u2019b")).toBe("'a\u2019\u2019b'");
  });

  test("minify drops help and comment lines but keeps code", () => {
    const src = "<#\n.SYNOPSIS\n x\n#>\n[CmdletBinding()]\nparam()\n  # why\n  $a = 1 # trailing\n\n";
    expect(minifyPowerShell(src)).toBe("[CmdletBinding()]\nparam()\n$a = 1 # trailing");
  });
});

describe("the bootstrap in real PowerShell", () => {
  test("unpacks, inflates and runs a script with the given parameters", () => {
    const script = [
      "<# help #>",
      "param([string]$SubscriptionId, [string]$ResourceGroupName, [string]$ArmEndpoint, [int]$DeadlineSeconds)",
      "# a comment line",
      "Write-Output (@{ s = $SubscriptionId; r = $ResourceGroupName; a = $ArmEndpoint; d = $DeadlineSeconds; u = 'ünïcödé ✓' } | ConvertTo-Json -Compress)",
    ].join("\n");
    const tricky = { ...params, resourceGroupName: "rg-with-'quote'" };
    const command = renderProbeCommand(script, tricky);
    const encoded = command.split(" ").pop()!;
    const r = spawnSync(findPwsh(), ["-NoProfile", "-NonInteractive", "-EncodedCommand", encoded], {
      encoding: "utf8",
      env: pwshEnv(),
      timeout: 60_000,
    });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout.trim())).toEqual({
      s: tricky.subscriptionId,
      r: "rg-with-'quote'",
      a: "https://management.azure.com/",
      d: 900,
      u: "ünïcödé ✓",
    });
  });

  test("the rendered bootstrap has no PowerShell 7-only syntax", () => {
    const bootstrap = renderBootstrap("param()", params);
    expect(bootstrap).not.toMatch(/\?\?|\?\.|&&|\|\||::new\(/);
  });
});

describe("probeForceUpdateTag", () => {
  const script = "param()\nWrite-Output 1";
  const base = probeForceUpdateTag(script, params, "");
  test("is stable for the same probe", () => {
    expect(probeForceUpdateTag(script, { ...params }, "")).toBe(base);
  });
  test("ignores comment-only edits, which do not change what runs", () => {
    expect(probeForceUpdateTag("# note\n" + script, params, "")).toBe(base);
  });
  test.each([
    ["the script", () => probeForceUpdateTag(script + "\nWrite-Output 2", params, "")],
    ["a parameter", () => probeForceUpdateTag(script, { ...params, deadlineSeconds: 901 }, "")],
    ["the rerun token", () => probeForceUpdateTag(script, params, "2026-11-28")],
  ])("changes with %s", (_what, tag) => {
    expect(tag()).not.toBe(base);
  });
});
