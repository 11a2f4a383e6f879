/**
 * Values unknown at preview. @pulumi/policy wraps every resource's props in unknownCheckingProxy;
 * reading a value the engine does not know yet throws UnknownValueError, and its analyzer turns
 * that into an advisory "can't run policy ... during preview" for that resource (for a stack
 * policy: for the whole stack). So a check on such a value is advisory at preview and enforced
 * at `up`, when the value is known. The pack's eachKnown keeps every other verdict: known items
 * are still checked (and stay mandatory), only the unknown ones are deferred.
 */
import * as pulumi from "@pulumi/pulumi";
import { UnknownValueError, unknownCheckingProxy } from "@pulumi/policy";
import { installMocks, probeInstanceView, settle } from "../offline/mockAzure";
import { stdoutWith, successReport } from "../offline/sampleReports";
import { guardConfig } from "./config";
import {
  POLICIES,
  POLICY,
  grantAboveResourceGroupNeedsAllowance,
  noAssignmentAboveSubscription,
  noOpenManagementPorts,
  principalTypeServicePrincipal,
  vmDeletesItsResources,
} from "./policies";
import { BUILT_IN_ROLES } from "./scope";
import { UNKNOWN, recordRegistrations, runPack, runPolicy, stackFrom, stackResource } from "./testkit";

const azure = installMocks();
const registrations = recordRegistrations();
const SUB = "/subscriptions/11111111-2222-3333-4444-555555555555";
const lab = stackResource("identitylab:lab:IdentityLab", "idlab", {});
const grant = stackResource("identitylab:authorization:RoleGrant", "idlab-reader", {}, { parent: lab });
const ra = (name: string, props: Record<string, unknown>) =>
  stackResource(
    "azure-native:authorization:RoleAssignment",
    name,
    {
      roleDefinitionId: `${SUB}/providers/Microsoft.Authorization/roleDefinitions/${BUILT_IN_ROLES.Reader}`,
      principalId: UNKNOWN,
      principalType: "ServicePrincipal",
      ...props,
    },
    { parent: grant },
  );

test("UNKNOWN is what @pulumi/policy's own proxy treats as unknown", () => {
  expect(() => unknownCheckingProxy({ scope: UNKNOWN }).scope).toThrow(UnknownValueError);
  expect(() => unknownCheckingProxy({ scope: UNKNOWN }).scope).toThrow("string value at .scope can't be known during preview");
  expect(unknownCheckingProxy({ scope: "/" }).scope).toBe("/");
});

test("a resource policy that reads an unknown scope is advisory at preview, and mandatory once the scope is known", async () => {
  const atPreview = await runPolicy(noAssignmentAboveSubscription, [ra("a", { scope: UNKNOWN })]);
  expect(atPreview).toEqual([
    {
      policy: POLICY.noAssignmentAboveSubscription,
      level: "advisory",
      message: `can't run policy '${POLICY.noAssignmentAboveSubscription}' during preview: string value at .scope can't be known during preview`,
      urn: expect.any(String),
    },
  ]);
  const atUp = await runPolicy(noAssignmentAboveSubscription, [ra("a", { scope: "/" })]);
  expect(atUp).toEqual([expect.objectContaining({ level: "mandatory", message: expect.stringMatching(/root scope/) })]);
});

test("what does not depend on the unknown is still enforced at preview: principalType beside an unknown scope", async () => {
  const bad = ra("b", { scope: UNKNOWN, principalType: "User" });
  expect(await runPolicy(principalTypeServicePrincipal, [bad])).toEqual([
    expect.objectContaining({ level: "mandatory", message: expect.stringMatching(/principalType "User"/) }),
  ]);
});

test("a stack policy keeps its verdicts on known grants when another grant's scope is unknown", async () => {
  const known = ra("known", { scope: SUB });
  const unknown = ra("unknown", { scope: UNKNOWN });
  const violations = await runPolicy(grantAboveResourceGroupNeedsAllowance, [lab, grant, unknown, known]);
  expect(violations.map((v) => [v.level, v.message])).toEqual([
    [
      "mandatory",
      expect.stringMatching(
        /^Setup "idlab" grants Reader \(acdd72a7-3385-48ef-bd42-f606fba81ae7\) to a managed identity at subscription scope/,
      ),
    ],
    [
      "advisory",
      `can't run policy '${POLICY.grantAboveResourceGroupNeedsAllowance}' during preview: string value at .scope can't be known during preview`,
    ],
  ]);
  expect(violations[0].urn).toBe(known.urn);
});

test("an NSG with one unknown rule: the known bad rule is still mandatory", async () => {
  const nsg = stackResource("azure-native:network:NetworkSecurityGroup", "nsg", {
    securityRules: [
      { name: "later", direction: "Inbound", access: "Allow", protocol: "Tcp", destinationPortRange: "22", sourceAddressPrefix: UNKNOWN },
      { name: "open", direction: "Inbound", access: "Allow", protocol: "Tcp", destinationPortRange: "22", sourceAddressPrefix: "Internet" },
    ],
  });
  expect((await runPolicy(noOpenManagementPorts, [nsg])).map((v) => [v.level, v.message])).toEqual([
    ["mandatory", 'rule "open" allows inbound port 22 from "Internet" is the whole Internet.'],
    ["advisory", expect.stringMatching(/string value at \.securityRules\.0\.sourceAddressPrefix can't be known during preview$/)],
  ]);
});

test("a VM whose NIC list is unknown: the OS disk is still checked", async () => {
  const vm = stackResource("azure-native:compute:VirtualMachine", "vm", {
    storageProfile: { osDisk: { deleteOption: "Detach" } },
    networkProfile: { networkInterfaceConfigurations: UNKNOWN },
  });
  expect((await runPolicy(vmDeletesItsResources, [vm])).map((v) => [v.level, v.message])).toEqual([
    ["advisory", 'The OS disk has deleteOption "Detach"; set "Delete".'],
    [
      "advisory",
      `can't run policy 'vm-resources-deleted-with-vm' during preview: string value at .networkProfile.networkInterfaceConfigurations can't be known during preview`,
    ],
  ]);
});

test("the default stack at its first preview: role-assignment checks on the unknown scope are advisory, nothing is mandatory", async () => {
  pulumi.runtime.setAllConfig({});
  azure.instanceView = (rg: string) => probeInstanceView(stdoutWith(successReport(rg)));
  let program: Record<string, pulumi.Output<unknown>> = {};
  jest.isolateModules(() => {
    program = require("../index");
  });
  await Promise.all(Object.values(program).map((o) => settle(o)));
  let count = -1;
  while (count !== registrations.length) {
    count = registrations.length;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // A new stack: the resource group's id and the VM's principal id exist only after create.
  const resources = stackFrom(azure, registrations, { registered: 0, registrations: 0 }, (type, _name, inputs) =>
    type === "azure-native:authorization:RoleAssignment"
      ? { ...inputs, scope: UNKNOWN, principalId: UNKNOWN, roleAssignmentName: UNKNOWN }
      : inputs,
  );
  expect(resources.filter((r) => r.type === "azure-native:authorization:RoleAssignment")).toHaveLength(1);

  const violations = await runPack(POLICIES, resources, guardConfig());
  expect(violations.map((v) => [v.policy, v.level])).toEqual([
    [POLICY.noAssignmentAboveSubscription, "advisory"],
    [POLICY.noPrivilegedRoleAboveResourceGroup, "advisory"],
    [POLICY.grantAboveResourceGroupNeedsAllowance, "advisory"],
  ]);
  for (const v of violations)
    expect(v.message).toMatch(/^can't run policy '.*' during preview: string value at \.scope can't be known during preview$/);
});
