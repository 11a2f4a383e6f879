import { inflateRawSync } from "node:zlib";
import {
  COMMAND_BUDGET,
  grantsJson,
  minifyPowerShell,
  probeForceUpdateTag,
  readProbeScript,
  renderProbeCommand,
  renderWindowsProbe,
  stripGrantsRegions,
  USER_DATA_LIMIT,
  type GrantProbeSpec,
} from "./command";

const params = {
  subscriptionId: "00000000-1111-2222-3333-444444444444",
  resourceGroupName: `${"r".repeat(43)}.${"(x)-_".repeat(9)}r`,
  armEndpoint: "https://management.usgovcloudapi.net/",
  deadlineSeconds: 5100,
};
const script = readProbeScript();
const sa = `/subscriptions/${params.subscriptionId}/resourceGroups/${params.resourceGroupName}/providers/Microsoft.Storage/storageAccounts/${"w".repeat(24)}`;
const grants: GrantProbeSpec[] = [
  {
    n: "g0",
    s: sa,
    u: "0c0c0c0c-1111-2222-3333-444444444444",
    k: "blob",
    v: "2023-05-01",
    b: `https://${"w".repeat(24)}.blob.core.windows.net/probe`,
  },
  { n: "g1", s: `/subscriptions/${params.subscriptionId}`, u: "", k: "arm", v: "2022-12-01", b: "" },
];

describe("renderWindowsProbe", () => {
  test("without grants: exactly the tutorial's inline command, no userData", () => {
    expect(renderWindowsProbe(script, params)).toEqual({ commandToExecute: renderProbeCommand(script, params) });
    // The tutorial's text has no grants code at all.
    expect(minifyPowerShell(script)).not.toMatch(/Grants|Get-Grant|ConvertFrom-BlobXml/);
    expect(minifyPowerShell(script)).toBe(minifyPowerShell(stripGrantsRegions(script), "grants"));
  });

  test("with grants: userData holds the grants and the whole probe; the loader is well under the budget", () => {
    const d = renderWindowsProbe(script, params, grants);
    expect(d.userData!.length).toBeLessThanOrEqual(USER_DATA_LIMIT);
    const text = inflateRawSync(Buffer.from(d.userData!, "base64")).toString("utf8");
    const nl = text.indexOf("\n");
    expect(text.slice(0, nl)).toBe(grantsJson(grants));
    expect(JSON.parse(text.slice(0, nl))).toEqual(grants);
    expect(text.slice(nl + 1)).toBe(minifyPowerShell(script, "grants"));
    expect(d.commandToExecute).toMatch(/^powershell -ExecutionPolicy Bypass -NoProfile -NonInteractive -EncodedCommand [A-Za-z0-9+/]+=*$/);
    // Longest parameters; the loader does not grow with the grants.
    expect(d.commandToExecute.length).toBeLessThanOrEqual(6200);
    expect(renderWindowsProbe(script, params, [...grants, ...grants]).commandToExecute).toBe(d.commandToExecute);
    expect(d.commandToExecute.length).toBeLessThan(COMMAND_BUDGET);
    const loader = Buffer.from(d.commandToExecute.split(" ").pop()!, "base64").toString("utf16le");
    expect(loader).toContain("/metadata/instance/compute/userData?api-version=2021-01-01&format=text");
    expect(loader).toContain("-Grants $g");
    expect(loader).toContain(`-ResourceGroupName '${params.resourceGroupName}'`);
  });

  test("the extension's forceUpdateTag: unchanged for the tutorial, follows the grants otherwise", () => {
    const tutorial = probeForceUpdateTag(script, params, "r1");
    expect(probeForceUpdateTag(script, params, "r1", [])).toBe(tutorial);
    const withGrants = probeForceUpdateTag(script, params, "r1", grants);
    expect(withGrants).not.toBe(tutorial);
    expect(probeForceUpdateTag(script, params, "r1", grants.slice(0, 1))).not.toBe(withGrants);
  });
});

describe("the loader's failure report", () => {
  test("reads back as a failed outcome whose cause names the userData", async () => {
    const { probeInstanceView } = await import("../offline/mockAzure");
    const { readProbeOutcome } = await import("./report");
    const line =
      '{"schema":"identitylab.probe/v1","ok":false,"resourceGroup":null,"identity":null,"permissions":null,' +
      '"attempts":{"imds":7,"resourceGroup":0,"permissions":0},"elapsedSeconds":120.3,"trimmed":[],' +
      '"error":{"phase":"userData","status":503,"code":"UserDataUnavailable","message":"Service Unavailable","requestId":null},"grants":[]}';
    const outcome = readProbeOutcome(probeInstanceView(`loading\n${line}\n`) as never, "rg");
    expect(outcome.status).toBe("failed");
    if (outcome.status !== "failed") return;
    expect(outcome.cause).toMatch(/could not fetch the VM's userData from IMDS after 120.3s and 7 attempt\(s\) \(503 UserDataUnavailable/);
    expect(outcome.nextStep).toMatch(/az vm show --query userData/);
  });
});
