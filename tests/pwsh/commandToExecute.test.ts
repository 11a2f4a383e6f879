/**
 * The most important check of the probe: the exact commandToExecute that the
 * Pulumi program hands to the Custom Script Extension runs (with `powershell`
 * replaced by `pwsh`, the -EncodedCommand unchanged) and reports what the
 * script file itself reports.
 */
import { AzureEmulator } from "../../offline/azure-emulator";
import { findPwsh, pwshEnv, runProbe } from "../../offline/pwsh";
import { lastLine, runToEnd } from "../../offline/process";
import { SUBSCRIPTION_ID, installMocks, valueOf } from "../../offline/mockAzure";
import { IdentityLab } from "../../components";
import { validateSettings } from "../../settings/validate";
import { readProbeOutcome } from "../../probe/report";

const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const azure = installMocks();
const emulator = new AzureEmulator({ subscriptionId: SUBSCRIPTION_ID });
let command: string;
let rgName: string;

beforeAll(async () => {
  await emulator.start();
  // Only the command is wanted here: no instance view is mocked, so only report the (unreadable) outcome.
  const lab = new IdentityLab("cmd", { settings: validateSettings({ probeFailureMode: "report" }) });
  rgName = await valueOf(lab.resourceGroupName);
  await valueOf(lab.probe.extension.id);
  command = azure.one("azure-native:compute:VirtualMachineExtension").inputs.protectedSettings.commandToExecute;

  const rgId = emulator.addResourceGroup({ name: rgName, location: "eastus2", tags: { lab: "identity-lab" } });
  const principalId = "5b0c9e61-8a2e-4f17-b3d4-0c6a1e2f3d4b";
  emulator.setVmIdentity({ principalId, resourceId: `${rgId}/providers/Microsoft.Compute/virtualMachines/cmd-vm` });
  emulator.assignRole({ scope: rgId, roleDefinitionId: READER, principalId });
});
afterAll(() => emulator.stop());

function runCommandAsCse(cmd: string) {
  const [exe, ...args] = cmd.split(" ");
  expect(exe).toBe("powershell");
  return runToEnd(findPwsh(), args, {
    env: pwshEnv({ IDENTITYLAB_IMDS_ENDPOINT: emulator.imdsUrl, IDENTITYLAB_ARM_URL: emulator.armUrl }),
  });
}

/** What may differ between two runs: timing and the token's expiry. */
function stable(report: any) {
  return { ...report, elapsedSeconds: 0, identity: { ...report.identity, expiresOn: "" } };
}

test("the program's exact command runs in pwsh and reports what the script file reports", async () => {
  const [embedded, file] = await Promise.all([
    runCommandAsCse(command),
    runProbe({
      mode: "file",
      params: { SubscriptionId: SUBSCRIPTION_ID, ResourceGroupName: rgName },
      env: { IDENTITYLAB_IMDS_ENDPOINT: emulator.imdsUrl, IDENTITYLAB_ARM_URL: emulator.armUrl },
    }),
  ]);
  expect({ code: embedded.code, stderr: embedded.stderr }).toEqual({ code: 0, stderr: "" });
  expect(embedded.stderr).toBe("");
  const report = JSON.parse(lastLine(embedded.stdout));
  expect(report).toMatchObject({ schema: "identitylab.probe/v1", ok: true, resourceGroup: { name: rgName } });
  expect(report.identity.audience).toBe("https://management.azure.com/");
  expect(stable(report)).toEqual(stable(file.report));

  // And the program reads it back from a CSE instance view the same way.
  const outcome = readProbeOutcome(
    { substatuses: [{ code: "ComponentStatus/StdOut/succeeded", message: Buffer.from(embedded.stdout).subarray(-4096).toString() }] },
    rgName,
  );
  expect(outcome.status).toBe("succeeded");
});
