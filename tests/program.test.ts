/**
 * index.ts itself: config in, validation first, stack outputs out.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, probeInstanceView, valueOf, VM_PRINCIPAL_ID } from "../offline/mockAzure";
import { stdoutWith, successReport } from "../offline/sampleReports";

const azure = installMocks();

function setConfig(values: Record<string, string>) {
  pulumi.runtime.setAllConfig(values);
}

function loadProgram(): Record<string, pulumi.Output<unknown>> {
  let program: Record<string, pulumi.Output<unknown>> = {};
  jest.isolateModules(() => {
    program = require("../index");
  });
  return program;
}

describe("index.ts", () => {
  test("bad config: one error listing every problem, and not a single resource registered", () => {
    setConfig({
      "identity-lab:rdpSourceCidr": "0.0.0.0/0",
      "identity-lab:computerName": "a-computer-name-too-long",
      "identity-lab:tags": '{"owner": 7}',
    });
    let error: unknown;
    try {
      loadProgram();
    } catch (e) {
      error = e;
    }
    expect(pulumi.RunError.isInstance(error)).toBe(true);
    const message = (error as Error).message;
    expect(message).toMatch(/3 configuration problems; nothing was deployed/);
    expect(message).toMatch(/identity-lab:rdpSourceCidr: "0.0.0.0\/0" would open RDP to the whole Internet/);
    expect(message).toMatch(/identity-lab:computerName: .* at most 15/);
    expect(message).toMatch(/identity-lab:tags.owner: must be a string/);
    expect(azure.registered).toHaveLength(0);
  });

  test("azure-native:environment picks the probe's cloud, and is validated too", () => {
    setConfig({ "azure-native:environment": "mars" });
    expect(() => loadProgram()).toThrow(/azure-native:environment: "mars" must be one of public, usgovernment, china/);
    expect(azure.registered).toHaveLength(0);
  });

  test("good config: the stack outputs the tutorial's facts and the probe's report", async () => {
    setConfig({ "identity-lab:namePrefix": "demo", "identity-lab:tags": '{"owner":"alice"}' });
    azure.instanceView = (rgName: string) => probeInstanceView(stdoutWith(successReport(rgName)));
    const program = loadProgram();
    const rg = (await valueOf(program.resourceGroupName)) as string;

    expect(Object.keys(program).sort()).toEqual(
      [
        "adminPassword",
        "adminUsername",
        "principalId",
        "probeAttempts",
        "probeElapsedSeconds",
        "probeIdentityObjectId",
        "probePermissions",
        "probeProblem",
        "probeResourceGroup",
        "probeStatus",
        "resourceGroupName",
        "roleAssignmentId",
        "setups",
        "vmId",
        "vmName",
      ].sort(),
    );
    expect(rg).toMatch(/^demo-rg/);
    expect(await valueOf(program.principalId)).toBe(VM_PRINCIPAL_ID);
    expect(await valueOf(program.roleAssignmentId)).toMatch(
      new RegExp(`/resourceGroups/${rg}/providers/Microsoft.Authorization/roleAssignments/[0-9a-f-]{36}$`),
    );
    expect(await valueOf(program.vmId)).toMatch(/\/providers\/Microsoft.Compute\/virtualMachines\//);
    expect(await valueOf(program.probeStatus)).toBe("succeeded");
    expect(await valueOf(program.probeResourceGroup)).toMatchObject({ name: rg, provisioningState: "Succeeded" });
    expect(await valueOf(program.probeIdentityObjectId)).toBe(VM_PRINCIPAL_ID);
    expect(await valueOf(program.probePermissions)).toEqual([{ actions: ["*/read"], notActions: [], dataActions: [], notDataActions: [] }]);
    expect(await valueOf(program.probeAttempts)).toEqual({ imds: 1, resourceGroup: 4, permissions: 1 });
    expect(await valueOf(program.probeElapsedSeconds)).toBe(17.3);
    expect(await valueOf(program.probeProblem)).toBeNull();
    expect(await pulumi.isSecret(program.adminPassword)).toBe(true);
    expect(await pulumi.isSecret(program.probeResourceGroup)).toBe(false);
    const rgResource = azure.one("azure-native:resources:ResourceGroup");
    expect(rgResource.inputs.tags).toMatchObject({ owner: "alice", "managed-by": "pulumi", lab: "identity-lab", stack: "dev" });
  });

  test("index.ts only re-exports the lab's own outputs: no apply, no reaching into its children", () => {
    const source = readFileSync(path.join(__dirname, "..", "index.ts"), "utf8");
    const exports = source.split("\n").filter((line) => line.startsWith("export "));
    // The tutorial's 14, and the setups map.
    expect(exports).toHaveLength(15);
    const reexport = /^export const (\w+) = lab\.(\w+);$/;
    expect(exports.filter((line) => line.match(reexport)?.[1] !== line.match(reexport)?.[2])).toEqual([]);
    expect(source).not.toMatch(/\.apply\(|lab\.(vm|probe|readerGrant|network)\./);
    // Negative control: the check sees what index.ts used to do.
    expect("export const vmName = lab.vm.vmName;").not.toMatch(reexport);
  });
});
