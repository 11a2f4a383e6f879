/**
 * One positive and at least one negative case per policy, calling its validator with
 * constructed arguments (testkit.ts mimics @pulumi/policy's analyzer).
 */
import type { PolicyResource } from "@pulumi/policy";
import {
  POLICIES,
  POLICY,
  grantAboveResourceGroupNeedsAllowance,
  noAssignmentAboveSubscription,
  noOpenManagementPorts,
  noPrivilegedRoleAboveResourceGroup,
  principalTypeServicePrincipal,
  readAllowances,
  vmDeletesItsResources,
  vmHasIdentity,
  vmLinuxNoPassword,
  vmTrustedLaunch,
} from "./policies";
import { BUILT_IN_ROLES } from "./scope";
import { runPolicy, stackResource } from "./testkit";

const SUB = "/subscriptions/11111111-2222-3333-4444-555555555555";
const RG = `${SUB}/resourceGroups/idlab-rg`;
const PRINCIPAL = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const roleId = (guid: string) => `${SUB}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;

const lab = stackResource("identitylab:lab:IdentityLab", "idlab", {});
const setup = stackResource("identitylab:setup:IdentitySetup", "web", {}, { parent: lab });
let n = 0;
function assignment(scope: string, role: string, parent: PolicyResource | null = setup, extra: Record<string, unknown> = {}) {
  const owner = parent ? stackResource("identitylab:authorization:RoleGrant", `grant${++n}`, {}, { parent }) : undefined;
  return stackResource(
    "azure-native:authorization:RoleAssignment",
    `ra${++n}`,
    { scope, roleDefinitionId: roleId(role), principalId: PRINCIPAL, principalType: "ServicePrincipal", ...extra },
    { parent: owner ?? undefined },
  );
}
const messages = async (...args: Parameters<typeof runPolicy>) => (await runPolicy(...args)).map((v) => v.message);

const goodVm = () => ({
  identity: { type: "SystemAssigned" },
  securityProfile: { securityType: "TrustedLaunch", uefiSettings: { secureBootEnabled: true, vTpmEnabled: true } },
  storageProfile: { osDisk: { createOption: "FromImage", deleteOption: "Delete" } },
  osProfile: { computerName: "vm", adminUsername: "labadmin", windowsConfiguration: {} },
  networkProfile: {
    networkInterfaceConfigurations: [
      {
        name: "nic",
        deleteOption: "Delete",
        ipConfigurations: [{ name: "ipconfig1", publicIPAddressConfiguration: { name: "pip", deleteOption: "Delete" } }],
      },
    ],
  },
});
const vm = (props: Record<string, any>) => stackResource("azure-native:compute:VirtualMachine", "idlab-vm", props, { parent: lab });

test("every policy is in POLICIES once, with a description and a default level", () => {
  expect(POLICIES.map((p) => p.name).sort()).toEqual(Object.values(POLICY).sort());
  for (const p of POLICIES) {
    expect(p.description.length).toBeGreaterThan(20);
    expect(p.enforcementLevel).toBeDefined();
  }
  // Hygiene is advisory by default; everything about access is mandatory.
  expect(POLICIES.filter((p) => p.enforcementLevel !== "mandatory").map((p) => p.name)).toEqual([POLICY.vmDeletesItsResources]);
});

describe(POLICY.noAssignmentAboveSubscription, () => {
  test("subscription, resource-group and resource scopes pass", async () => {
    const ras = [
      assignment(SUB, BUILT_IN_ROLES.Reader),
      assignment(RG, BUILT_IN_ROLES.Owner),
      assignment(`${RG}/providers/Microsoft.KeyVault/vaults/kv`, BUILT_IN_ROLES.Reader),
    ];
    expect(await messages(noAssignmentAboveSubscription, ras)).toEqual([]);
  });
  test.each([
    ["/", /root scope/],
    ["/providers/Microsoft.Management/managementGroups/mg", /managementGroup scope/],
    ["/providers/Microsoft.Capacity", /tenant scope/],
    ["resourceGroups/rg", /not an ARM scope this pack recognises/],
  ])("%s fails, whatever the principal", async (scope, message) => {
    const outsideLab = assignment(scope, BUILT_IN_ROLES.Reader, null);
    expect(await messages(noAssignmentAboveSubscription, [outsideLab])).toEqual([expect.stringMatching(message)]);
  });
  test("configuration cannot allow it: allowances are ignored", async () => {
    const config = { [POLICY.noAssignmentAboveSubscription]: { allowances: [{ setup: "web", role: "Reader", scope: "subscription" }] } };
    expect(await messages(noAssignmentAboveSubscription, [assignment("/", BUILT_IN_ROLES.Reader)], config as any)).toHaveLength(1);
  });
});

describe(POLICY.noPrivilegedRoleAboveResourceGroup, () => {
  const allow = (role: string, setupName = "web") => ({
    [POLICY.noPrivilegedRoleAboveResourceGroup]: { allowances: [{ setup: setupName, role, scope: "subscription" as const }] },
  });
  test("Owner on a resource group and Reader on the subscription pass", async () => {
    expect(
      await messages(noPrivilegedRoleAboveResourceGroup, [assignment(RG, BUILT_IN_ROLES.Owner), assignment(SUB, BUILT_IN_ROLES.Reader)]),
    ).toEqual([]);
  });
  test.each(Object.entries({ Owner: 0, Contributor: 0, "User Access Administrator": 0, "Role Based Access Control Administrator": 0 }))(
    "%s on the subscription fails, naming the setup and the fix",
    async (role) => {
      const guid = BUILT_IN_ROLES[role as keyof typeof BUILT_IN_ROLES];
      const [message] = await messages(noPrivilegedRoleAboveResourceGroup, [assignment(SUB, guid)]);
      expect(message).toContain(`Setup "web" grants ${role} (${guid}) to a managed identity at subscription scope`);
      expect(message).toContain(
        `add {"setup": "web", "role": "${role}", "scope": "subscription"} to ${POLICY.noPrivilegedRoleAboveResourceGroup}.allowances`,
      );
    },
  );
  test("an allowance for that setup and role lets it through; for another setup or role it does not", async () => {
    const ra = assignment(SUB, BUILT_IN_ROLES.Contributor);
    expect(await messages(noPrivilegedRoleAboveResourceGroup, [ra], allow("Contributor"))).toEqual([]);
    expect(await messages(noPrivilegedRoleAboveResourceGroup, [ra], allow(BUILT_IN_ROLES.Contributor))).toEqual([]);
    expect(await messages(noPrivilegedRoleAboveResourceGroup, [ra], allow("Contributor", "other"))).toHaveLength(1);
    expect(await messages(noPrivilegedRoleAboveResourceGroup, [ra], allow("Owner"))).toHaveLength(1);
  });
  test("at a management group nothing lets it through", async () => {
    const ra = assignment("/providers/Microsoft.Management/managementGroups/mg", BUILT_IN_ROLES.Owner);
    expect(await messages(noPrivilegedRoleAboveResourceGroup, [ra], allow("Owner"))).toEqual([
      expect.stringMatching(/managementGroup scope/),
    ]);
  });
  test("a grant outside the lab to a principal that is not a managed identity is not this policy's business", async () => {
    expect(await messages(noPrivilegedRoleAboveResourceGroup, [assignment(SUB, BUILT_IN_ROLES.Owner, null)])).toEqual([]);
  });
  test("outside the lab, a principalId that comes from a user-assigned identity makes it a managed identity's grant", async () => {
    const uai = stackResource("azure-native:managedidentity:UserAssignedIdentity", "uai", { principalId: PRINCIPAL });
    const byValue = assignment(SUB, BUILT_IN_ROLES.Owner, null);
    expect(await messages(noPrivilegedRoleAboveResourceGroup, [uai, byValue])).toEqual([
      expect.stringMatching(/Setup "\(none\)" grants Owner/),
    ]);
    const byDependency = stackResource(
      "azure-native:authorization:RoleAssignment",
      "dep",
      { scope: SUB, roleDefinitionId: roleId(BUILT_IN_ROLES.Owner), principalId: "other", principalType: "ServicePrincipal" },
      { propertyDependencies: { principalId: [uai] } },
    );
    expect(await messages(noPrivilegedRoleAboveResourceGroup, [byDependency])).toHaveLength(1);
  });
});

describe(POLICY.grantAboveResourceGroupNeedsAllowance, () => {
  const allow = (setupName: string, role: string) => ({
    [POLICY.grantAboveResourceGroupNeedsAllowance]: { allowances: [{ setup: setupName, role, scope: "subscription" as const }] },
  });
  test("grants at a resource group or a resource need no allowance", async () => {
    expect(
      await messages(grantAboveResourceGroupNeedsAllowance, [
        assignment(RG, BUILT_IN_ROLES.Reader),
        assignment(`${RG}/providers/Microsoft.Storage/storageAccounts/s`, BUILT_IN_ROLES.Contributor),
      ]),
    ).toEqual([]);
  });
  test("Reader at subscription scope fails by default and passes with an allowance for its setup", async () => {
    const ra = assignment(SUB, BUILT_IN_ROLES.Reader);
    const [message] = await messages(grantAboveResourceGroupNeedsAllowance, [ra]);
    expect(message).toBe(
      `Setup "web" grants Reader (${BUILT_IN_ROLES.Reader}) to a managed identity at subscription scope "${SUB}" without an allowance. ` +
        `If this grant is intended, add {"setup": "web", "role": "Reader", "scope": "subscription"} to ${POLICY.grantAboveResourceGroupNeedsAllowance}.allowances in the policy pack's config.`,
    );
    expect(await messages(grantAboveResourceGroupNeedsAllowance, [ra], allow("web", "Reader"))).toEqual([]);
    expect(await messages(grantAboveResourceGroupNeedsAllowance, [ra], allow("idlab", "Reader"))).toHaveLength(1);
  });
  test("today's shape: without an IdentitySetup the allowance names the lab", async () => {
    const ra = assignment(SUB, BUILT_IN_ROLES.Reader, lab);
    expect(await messages(grantAboveResourceGroupNeedsAllowance, [ra])).toEqual([expect.stringContaining('Setup "idlab" grants Reader')]);
    expect(await messages(grantAboveResourceGroupNeedsAllowance, [ra], allow("idlab", "reader"))).toEqual([]);
  });
  test("root, tenant and management-group grants fail even with an allowance", async () => {
    for (const scope of ["/", "/providers/Microsoft.Management/managementGroups/mg", "/providers/Microsoft.Capacity"]) {
      expect(
        await messages(grantAboveResourceGroupNeedsAllowance, [assignment(scope, BUILT_IN_ROLES.Reader)], allow("web", "Reader")),
      ).toEqual([expect.stringMatching(/no allowance can cover a scope above a subscription/)]);
    }
  });
  test("a bad allowance is an error naming the key and the rule", async () => {
    const ra = assignment(SUB, BUILT_IN_ROLES.Reader);
    await expect(runPolicy(grantAboveResourceGroupNeedsAllowance, [ra], allow("web", "Ownr"))).rejects.toThrow(
      `${POLICY.grantAboveResourceGroupNeedsAllowance}.allowances[0].role: "Ownr" is neither a built-in role name`,
    );
    expect(() =>
      readAllowances(POLICY.grantAboveResourceGroupNeedsAllowance, {
        allowances: [{ setup: "web", role: "Reader", scope: "managementGroup" as any }],
      }),
    ).toThrow(/allowances\[0\]\.scope: "managementGroup" is not allowed; only "subscription"/);
    expect(() =>
      readAllowances(POLICY.grantAboveResourceGroupNeedsAllowance, { allowances: [{ role: "Reader", scope: "subscription" } as any] }),
    ).toThrow(/allowances\[0\]\.setup/);
  });
});

describe(POLICY.principalTypeServicePrincipal, () => {
  test("ServicePrincipal passes", async () => {
    expect(await messages(principalTypeServicePrincipal, [assignment(RG, BUILT_IN_ROLES.Reader)])).toEqual([]);
  });
  test("unset or another type fails on the lab's assignments", async () => {
    expect(
      await messages(principalTypeServicePrincipal, [assignment(RG, BUILT_IN_ROLES.Reader, setup, { principalType: undefined })]),
    ).toEqual([expect.stringMatching(/principalType unset; set "ServicePrincipal"/)]);
    expect(
      await messages(principalTypeServicePrincipal, [assignment(RG, BUILT_IN_ROLES.Reader, setup, { principalType: "User" })]),
    ).toHaveLength(1);
  });
  test("an assignment outside the lab's components is not known to be a managed identity's", async () => {
    expect(await messages(principalTypeServicePrincipal, [assignment(RG, BUILT_IN_ROLES.Reader, null, { principalType: "User" })])).toEqual(
      [],
    );
  });
});

describe(POLICY.noOpenManagementPorts, () => {
  const rule = (extra: Record<string, unknown>) => ({
    name: "allow-rdp",
    priority: 1000,
    direction: "Inbound",
    access: "Allow",
    protocol: "Tcp",
    sourcePortRange: "*",
    destinationAddressPrefix: "*",
    destinationPortRange: "3389",
    ...extra,
  });
  const nsg = (...rules: Record<string, unknown>[]) =>
    stackResource("azure-native:network:NetworkSecurityGroup", "nsg", { securityRules: rules });
  test("no rules, or RDP from one address, passes", async () => {
    expect(await messages(noOpenManagementPorts, [nsg(), nsg(rule({ sourceAddressPrefix: "203.0.113.7/32" }))])).toEqual([]);
  });
  test("an inline rule from the Internet fails, naming the rule", async () => {
    expect(await messages(noOpenManagementPorts, [nsg(rule({ sourceAddressPrefix: "Internet" }))])).toEqual([
      'rule "allow-rdp" allows inbound port 3389 from "Internet" is the whole Internet.',
    ]);
  });
  test("a standalone SecurityRule is checked the same way", async () => {
    const ok = stackResource(
      "azure-native:network:SecurityRule",
      "ok",
      rule({ sourceAddressPrefix: "203.0.113.0/24", destinationPortRange: "22" }),
    );
    const bad = stackResource("azure-native:network:SecurityRule", "ssh-any", {
      ...rule({ destinationPortRange: "20-30", sourceAddressPrefixes: ["10.0.0.0/16"] }),
      name: undefined,
    });
    expect(await messages(noOpenManagementPorts, [ok, bad])).toEqual([
      'rule "ssh-any" allows inbound port 22 from "10.0.0.0/16" is wider than /24.',
    ]);
  });
});

describe(POLICY.vmHasIdentity, () => {
  test("system-assigned, user-assigned with one identity, or both pass", async () => {
    const uai = ["/subscriptions/s/resourceGroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u"];
    const vms = [
      vm(goodVm()),
      vm({ ...goodVm(), identity: { type: "UserAssigned", userAssignedIdentities: uai } }),
      vm({ ...goodVm(), identity: { type: "SystemAssigned, UserAssigned", userAssignedIdentities: { [uai[0]]: {} } } }),
    ];
    expect(await messages(vmHasIdentity, vms)).toEqual([]);
  });
  test("no identity, None, or UserAssigned without one fails", async () => {
    const { identity: _none, ...withoutIdentity } = goodVm();
    expect(await messages(vmHasIdentity, [vm(withoutIdentity)])).toEqual(["VM has no managed identity (identity.type unset)."]);
    expect(await messages(vmHasIdentity, [vm({ ...goodVm(), identity: { type: "None" } })])).toEqual([
      'VM has no managed identity (identity.type "None").',
    ]);
    expect(await messages(vmHasIdentity, [vm({ ...goodVm(), identity: { type: "UserAssigned", userAssignedIdentities: [] } })])).toEqual([
      expect.stringMatching(/names no user-assigned identity/),
    ]);
  });
});

describe(POLICY.vmDeletesItsResources, () => {
  test("OS disk, NIC and public IP deleted with the VM pass", async () => {
    expect(await messages(vmDeletesItsResources, [vm(goodVm())])).toEqual([]);
  });
  test("each one left behind is reported", async () => {
    const props = goodVm();
    delete (props.storageProfile.osDisk as any).deleteOption;
    props.networkProfile.networkInterfaceConfigurations[0].deleteOption = "Detach";
    props.networkProfile.networkInterfaceConfigurations[0].ipConfigurations[0].publicIPAddressConfiguration.deleteOption = "Detach";
    expect(await messages(vmDeletesItsResources, [vm(props)])).toEqual([
      `The OS disk has deleteOption unset (ARM's default is Detach); set "Delete".`,
      `NIC configuration "nic" has deleteOption "Detach"; set "Delete".`,
      `The public IP configuration of "nic/ipconfig1" has deleteOption "Detach"; set "Delete".`,
    ]);
  });
});

describe(POLICY.vmTrustedLaunch, () => {
  test("Trusted Launch with secure boot and vTPM passes", async () => {
    expect(await messages(vmTrustedLaunch, [vm(goodVm())])).toEqual([]);
  });
  test("Standard security, or secure boot or vTPM off, fails", async () => {
    expect(await messages(vmTrustedLaunch, [vm({ ...goodVm(), securityProfile: undefined })])).toHaveLength(3);
    expect(
      await messages(vmTrustedLaunch, [
        vm({ ...goodVm(), securityProfile: { securityType: "TrustedLaunch", uefiSettings: { secureBootEnabled: true } } }),
      ]),
    ).toEqual(["VM securityProfile.uefiSettings.vTpmEnabled is not true."]);
  });
});

describe(POLICY.vmLinuxNoPassword, () => {
  const linux = (linuxConfiguration: Record<string, unknown> | undefined, osType?: string) => {
    const props = goodVm();
    return vm({
      ...props,
      osProfile: { computerName: "vm", adminUsername: "labadmin", linuxConfiguration },
      storageProfile: { osDisk: { ...props.storageProfile.osDisk, osType } },
    });
  };
  test("a Linux VM with password authentication disabled passes; Windows VMs are not its business", async () => {
    expect(
      await messages(vmLinuxNoPassword, [linux({ disablePasswordAuthentication: true, ssh: { publicKeys: [] } }), vm(goodVm())]),
    ).toEqual([]);
  });
  test("a Linux VM that allows passwords, or says nothing, fails", async () => {
    expect(await messages(vmLinuxNoPassword, [linux({ disablePasswordAuthentication: false })])).toHaveLength(1);
    expect(await messages(vmLinuxNoPassword, [linux({})])).toHaveLength(1);
    expect(await messages(vmLinuxNoPassword, [linux(undefined, "Linux")])).toHaveLength(1);
  });
});
