/**
 * The components under Pulumi's mock runtime: what would be sent to Azure.
 */
import * as pulumi from "@pulumi/pulumi";
import {
  Captured,
  MOCK_PASSWORD,
  SUBSCRIPTION_ID,
  VM_PRINCIPAL_ID,
  capture,
  probeInstanceView,
  installMocks,
  settle,
  standaloneProbe,
  valueOf,
} from "../offline/mockAzure";
import { forbiddenReport, stdoutWith, successReport } from "../offline/sampleReports";
import { validateSettings, RawSettings } from "../settings/validate";
import { IdentityLab, IdentityProbe } from ".";
import { roleAssignmentName } from "./roles";
import { probeForceUpdateTag, readProbeScript, renderProbeCommand } from "../probe/command";

const azure = installMocks();
const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
let counter = 0;

/** What the extension read-back returns, given the lab's resource group's name. */
type ViewOf = (rg: string) => unknown;
/** A run of the update under test: stamped when the mock is read, after the lab was constructed. */
const runNow =
  (report: (rg: string) => string): ViewOf =>
  (rg) =>
    probeInstanceView(stdoutWith(report(rg)));
/** The last run of an earlier update: the extension was unchanged, the probe did not rerun. */
const runHoursAgo =
  (report: (rg: string) => string): ViewOf =>
  (rg) =>
    probeInstanceView(stdoutWith(report(rg)), "", new Date(Date.now() - 3 * 3600_000));

async function deploy(raw: RawSettings = {}, view: ViewOf = runNow(successReport)) {
  const name = `t${++counter}`;
  const before = azure.registered.length;
  const captured: Captured[] = [];
  // Computed when the program reads the extension back: the run reports on this lab's own resource group.
  azure.instanceView = view;
  const lab = new IdentityLab(name, { settings: validateSettings(raw) }, { transformations: [capture(captured)] });
  const failure = settle(lab.probe.failure);
  const rg = await valueOf(lab.resourceGroupName);
  await valueOf(lab.vm.principalId);
  const status = await valueOf(lab.probeStatus);
  const mine = azure.registered.slice(before);
  const of = (type: string) => mine.filter((r) => r.type === type);
  return { lab, rg, captured, mine, of, status, failure: await failure };
}

describe("IdentityLab with default settings", () => {
  let d: Awaited<ReturnType<typeof deploy>>;
  beforeAll(async () => {
    d = await deploy();
  });

  test("Reader, for the VM's identity, on exactly the resource group's id", async () => {
    const [ra] = d.of("azure-native:authorization:RoleAssignment");
    const rgId = `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/${d.rg}`;
    expect(ra.inputs.scope).toBe(rgId);
    expect(ra.inputs.roleDefinitionId).toBe(
      `/subscriptions/${SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/${READER}`,
    );
    expect(ra.inputs.principalId).toBe(VM_PRINCIPAL_ID);
    expect(ra.inputs.principalType).toBe("ServicePrincipal");
    expect(ra.inputs.roleAssignmentName).toBe(roleAssignmentName(rgId, READER, VM_PRINCIPAL_ID));
    expect(d.of("azure-native:authorization:RoleAssignment")).toHaveLength(1);
  });

  test("the extension depends on the role assignment (and a probe without it does not)", async () => {
    const ext = d.captured.find((c) => c.type === "azure-native:compute:VirtualMachineExtension")!;
    const deps = (ext.opts.dependsOn ?? []) as pulumi.Resource[];
    expect(deps).toContain(d.lab.readerGrant.assignment);

    // Negative control: the same capture sees no dependency when none is given.
    const captured: Captured[] = [];
    new IdentityProbe("control-probe", standaloneProbe, { transformations: [capture(captured)] });
    const controlExt = captured.find((c) => c.type === "azure-native:compute:VirtualMachineExtension")!;
    expect(controlExt.opts.dependsOn ?? []).not.toContain(d.lab.readerGrant.assignment);
    expect(controlExt.opts.dependsOn ?? []).toHaveLength(0);
  });

  test("the VM: system-assigned identity, Trusted Launch, Azure Edition Gen2, platform patching", () => {
    const [vm] = d.of("azure-native:compute:VirtualMachine");
    expect(vm.inputs.identity).toEqual({ type: "SystemAssigned" });
    expect(vm.inputs.securityProfile).toEqual({
      securityType: "TrustedLaunch",
      uefiSettings: { secureBootEnabled: true, vTpmEnabled: true },
    });
    expect(vm.inputs.storageProfile.imageReference).toEqual({
      publisher: "MicrosoftWindowsServer",
      offer: "WindowsServer",
      sku: "2025-datacenter-azure-edition",
      version: "latest",
    });
    expect(vm.inputs.hardwareProfile.vmSize).toBe("Standard_B2s_v2");
    expect(vm.inputs.osProfile.computerName).toBe(`idlab-vm`);
    expect(vm.inputs.osProfile.windowsConfiguration.patchSettings).toMatchObject({
      patchMode: "AutomaticByPlatform",
      enableHotpatching: true,
    });
    expect(vm.inputs.diagnosticsProfile).toEqual({ bootDiagnostics: { enabled: true } });
  });

  test("OS disk and NIC are deleted with the VM", () => {
    const [vm] = d.of("azure-native:compute:VirtualMachine");
    expect(vm.inputs.storageProfile.osDisk.deleteOption).toBe("Delete");
    const nics = vm.inputs.networkProfile.networkInterfaceConfigurations;
    expect(nics).toHaveLength(1);
    expect(nics[0].deleteOption).toBe("Delete");
    const vmOpts = d.captured.find((c) => c.type === "azure-native:compute:VirtualMachine")!.opts;
    expect(vmOpts.deleteBeforeReplace).toBe(true);
  });

  test("no public IP on the VM and no inbound allow rule", () => {
    const [vm] = d.of("azure-native:compute:VirtualMachine");
    const ipConfig = vm.inputs.networkProfile.networkInterfaceConfigurations[0].ipConfigurations[0];
    expect(ipConfig.publicIPAddressConfiguration).toBeUndefined();
    const [nsg] = d.of("azure-native:network:NetworkSecurityGroup");
    expect((nsg.inputs.securityRules ?? []).filter((r: any) => r.direction === "Inbound" && r.access === "Allow")).toEqual([]);
    // The only public IP is the NAT gateway's, which takes no inbound connections.
    const pips = d.of("azure-native:network:PublicIPAddress");
    expect(pips.map((p) => p.name)).toEqual(["t1-net-nat-ip"]);
  });

  test("explicit outbound: a NAT gateway on a subnet without default outbound access", () => {
    const [vnet] = d.of("azure-native:network:VirtualNetwork");
    const [nat] = d.of("azure-native:network:NatGateway");
    const [subnet] = vnet.inputs.subnets;
    expect(subnet.defaultOutboundAccess).toBe(false);
    expect(subnet.natGateway.id).toContain("/natGateways/");
    expect(subnet.networkSecurityGroup.id).toContain("/networkSecurityGroups/");
    expect(nat.inputs.sku).toEqual({ name: "Standard" });
    const [pip] = d.of("azure-native:network:PublicIPAddress");
    expect(pip.inputs.sku.name).toBe("Standard");
    expect(pip.inputs.publicIPAllocationMethod).toBe("Static");
    expect(nat.inputs.publicIpAddresses).toEqual([{ id: pip.id }]);
  });

  test("the admin password is random, generated by @pulumi/random, and secret", async () => {
    const [pw] = d.of("random:index/randomPassword:RandomPassword");
    expect(pw.inputs).toMatchObject({ length: 24, minUpper: 2, minLower: 2, minNumeric: 2, minSpecial: 2 });
    expect(await pulumi.isSecret(d.lab.adminPassword)).toBe(true);
    // Negative control: a plain output is not reported secret.
    expect(await pulumi.isSecret(d.lab.adminUsername)).toBe(false);
  });

  test("the admin password reaches the engine in a secret input of the VM, and nothing else of the VM is secret", () => {
    // The mock runtime does not apply RandomPassword's additionalSecretOutputs, so only the
    // program's own pulumi.secret can make this input secret. azure-native applies its
    // defaults to osProfile as a whole, so the secret password seals the whole osProfile.
    const [vm] = d.of("azure-native:compute:VirtualMachine");
    expect(vm.inputs.osProfile.adminPassword).toBe(MOCK_PASSWORD);
    expect(vm.secretPaths).toEqual(["osProfile"]);
  });

  test("the probe command is a secret in protectedSettings, and the extension is a single CSE 1.10", async () => {
    const exts = d.of("azure-native:compute:VirtualMachineExtension");
    expect(exts).toHaveLength(1);
    expect(exts[0].inputs).toMatchObject({
      publisher: "Microsoft.Compute",
      type: "CustomScriptExtension",
      typeHandlerVersion: "1.10",
      vmExtensionName: "identity-probe",
    });
    expect(exts[0].inputs.settings).toBeUndefined();
    expect(exts[0].inputs.protectedSettings.commandToExecute).toMatch(
      /^powershell -ExecutionPolicy Bypass -NoProfile -NonInteractive -EncodedCommand /,
    );
    expect(exts[0].inputs.forceUpdateTag).toMatch(/^[0-9a-f]{32}$/);
    expect(exts[0].secretPaths).toEqual(["protectedSettings"]);
  });

  test("the tutorial's probe command and forceUpdateTag are exactly tutorial mode's (no -Grants, no userData)", async () => {
    const [ext] = d.of("azure-native:compute:VirtualMachineExtension");
    const params = {
      subscriptionId: SUBSCRIPTION_ID,
      resourceGroupName: d.rg,
      armEndpoint: "https://management.azure.com/",
      deadlineSeconds: 900,
    };
    expect(ext.inputs.protectedSettings.commandToExecute).toBe(renderProbeCommand(readProbeScript(), params));
    expect(ext.inputs.forceUpdateTag).toBe(probeForceUpdateTag(readProbeScript(), params, ""));
    expect(d.of("azure-native:compute:VirtualMachine")[0].inputs.userData).toBeUndefined();
  });

  test("the report is read from the extension's instance view, after the extension", async () => {
    const read = azure.invoked.filter((i) => i.token === "azure-native:compute:getVirtualMachineExtension");
    expect(read.length).toBeGreaterThanOrEqual(1);
    expect(read[0].inputs).toMatchObject({ vmExtensionName: "identity-probe", expand: "instanceView" });
    expect(read[0].inputs.vmName).toBeTruthy();
    expect(d.status).toBe("succeeded");
    expect(d.failure).toBeUndefined();
    const outcome = await valueOf(d.lab.probe.outcome);
    expect(outcome.report?.identity?.objectId).toBe(VM_PRINCIPAL_ID);
    expect(await valueOf(d.lab.probeIdentityObjectId)).toBe(VM_PRINCIPAL_ID);
  });

  test("every resource is a child of the lab, named from its name, under identitylab: component types", () => {
    const components = d.captured
      .filter((c) => c.resourceIsComponent)
      .map((c) => c.type)
      .sort();
    expect(components).toEqual([
      "identitylab:authorization:RoleGrant",
      "identitylab:compute:IdentityProbe",
      "identitylab:compute:WindowsVm",
      "identitylab:lab:IdentityLab",
      "identitylab:network:LabNetwork",
      "identitylab:setup:IdentitySetup",
    ]);
    for (const c of d.captured) expect(c.name).toMatch(/^t1(-|$)/);
  });
});

describe("IdentityLab options", () => {
  test("RDP opt-in: one inbound rule from that source only, and a public IP on the VM", async () => {
    const d = await deploy({ rdpSourceCidr: "203.0.113.7/32" });
    const [nsg] = d.of("azure-native:network:NetworkSecurityGroup");
    expect(nsg.inputs.securityRules).toEqual([
      expect.objectContaining({
        direction: "Inbound",
        access: "Allow",
        sourceAddressPrefix: "203.0.113.7/32",
        destinationPortRange: "3389",
        protocol: "Tcp",
      }),
    ]);
    const [vm] = d.of("azure-native:compute:VirtualMachine");
    const pip = vm.inputs.networkProfile.networkInterfaceConfigurations[0].ipConfigurations[0].publicIPAddressConfiguration;
    expect(pip).toMatchObject({ deleteOption: "Delete", sku: { name: "Standard" } });
  });

  test("defaultOutboundAccess: no NAT gateway, the subnet opts in", async () => {
    const d = await deploy({ outboundAccess: "defaultOutboundAccess" });
    expect(d.of("azure-native:network:NatGateway")).toHaveLength(0);
    expect(d.of("azure-native:network:PublicIPAddress")).toHaveLength(0);
    const [vnet] = d.of("azure-native:network:VirtualNetwork");
    expect(vnet.inputs.subnets[0].defaultOutboundAccess).toBe(true);
    expect(vnet.inputs.subnets[0].natGateway).toBeUndefined();
  });

  test("another cloud: the probe asks that cloud's ARM", async () => {
    const d = await deploy({ cloud: "china" });
    const [ext] = d.of("azure-native:compute:VirtualMachineExtension");
    const bootstrap = Buffer.from(ext.inputs.protectedSettings.commandToExecute.split(" ").pop(), "base64").toString("utf16le");
    expect(bootstrap).toContain("-ArmEndpoint 'https://management.chinacloudapi.cn/'");
  });

  test("a failed probe fails the update (an uncaught ResourceError) with its cause and next step, and is still reported", async () => {
    const d = await deploy({}, runNow(forbiddenReport));
    expect(d.status).toBe("failed");
    expect(pulumi.ResourceError.isInstance(d.failure)).toBe(true);
    expect((d.failure as pulumi.ResourceError).hideStack).toBe(true);
    expect((d.failure as pulumi.ResourceError).resource).toBe(d.lab.probe);
    const message = (d.failure as Error).message;
    expect(message).toMatch(/The identity probe failed: ARM kept refusing identity/);
    expect(message).toMatch(/Next step: check `az role assignment list/);
    expect(message).toMatch(/probeFailureMode to "report"/);
    expect(await valueOf(d.lab.probeProblem)).toMatchObject({ cause: expect.stringMatching(/ARM kept refusing/) });
  });

  test("with probeFailureMode report, a failed probe is only reported", async () => {
    const warn = jest.spyOn(pulumi.log, "warn").mockImplementation(() => Promise.resolve());
    const d = await deploy({ probeFailureMode: "report" }, runNow(forbiddenReport));
    expect(d.status).toBe("failed");
    expect(d.failure).toBeUndefined();
    expect(warn).not.toHaveBeenCalled();
    warn.mockRestore();
    const outcome = await valueOf(d.lab.probe.outcome);
    expect(outcome).toMatchObject({ status: "failed", cause: expect.stringMatching(/RBAC had not propagated/) });
  });

  test("the rerun token changes forceUpdateTag and nothing else of the extension", async () => {
    const extensionInputs = async (name: string, rerunToken: string) => {
      const probe = new IdentityProbe(name, { ...standaloneProbe, rerunToken });
      await valueOf(probe.extension.id);
      return azure.registered.find((r) => r.name === `${name}-extension`)!.inputs;
    };
    const a = await extensionInputs("rerun-a", "");
    const b = await extensionInputs("rerun-b", "again");
    expect(b.forceUpdateTag).not.toBe(a.forceUpdateTag);
    expect({ ...b, forceUpdateTag: 0 }).toEqual({ ...a, forceUpdateTag: 0 });
  });
});

describe("probeFailureMode fail: only a run of this update fails it", () => {
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(pulumi.log, "warn").mockImplementation(() => Promise.resolve());
  });
  afterEach(() => warn.mockRestore());
  const warnings = () => warn.mock.calls.map((c) => String(c[0]));

  test("created in this update, and failed: fails the update, with no warning", async () => {
    const d = await deploy({}, runNow(forbiddenReport));
    expect(pulumi.ResourceError.isInstance(d.failure)).toBe(true);
    expect(warnings()).toEqual([]);
  });

  test("rerun in this update (a new probeRerunToken, so a new forceUpdateTag), and failed: fails the update", async () => {
    const d = await deploy({ probeRerunToken: "again" }, runNow(forbiddenReport));
    expect(pulumi.ResourceError.isInstance(d.failure)).toBe(true);
    expect((d.failure as Error).message).toMatch(/^The identity probe failed: ARM kept refusing/);
  });

  test("unchanged, and no instance view (a stopped or deallocated VM): a warning, and the update goes on", async () => {
    const d = await deploy({}, () => undefined);
    expect(d.status).toBe("unreadable");
    expect(d.failure).toBeUndefined();
    expect(warnings()).toEqual([
      expect.stringMatching(
        /^The probe did not run in this update \(Azure shows no output of the extension.*start the VM.*\), so its last result is only reported: The identity probe unreadable/,
      ),
    ]);
    expect(await valueOf(d.lab.probeProblem)).toMatchObject({ cause: expect.stringMatching(/no StdOut substatus/) });
  });

  test("unchanged, and its last run (hours ago) failed: a warning that dates that run, and the update goes on", async () => {
    const d = await deploy({}, runHoursAgo(forbiddenReport));
    expect(d.status).toBe("failed");
    expect(d.failure).toBeUndefined();
    expect(warnings()).toEqual([
      expect.stringMatching(
        /^The probe did not run in this update \(its last report is from 20\d\d-.*Z, before this update began\).*ARM kept refusing/s,
      ),
    ]);
  });

  test("unchanged, and its last run succeeded: no warning at all", async () => {
    const d = await deploy({}, runHoursAgo(successReport));
    expect([d.status, d.failure, warnings()]).toEqual(["succeeded", undefined, []]);
  });

  test("a failed run whose instance view carries no time: fails the update, since nothing shows it is old", async () => {
    const d = await deploy({}, (rg) => probeInstanceView(stdoutWith(forbiddenReport(rg)), "", null));
    expect(pulumi.ResourceError.isInstance(d.failure)).toBe(true);
  });
});
