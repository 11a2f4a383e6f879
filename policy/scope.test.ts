import { BUILT_IN_ROLES, classifyScope, insideLab, isAzureType, roleGuidFromName, roleGuidOf, setupOf, urnTypes } from "./scope";

const SUB = "/subscriptions/11111111-2222-3333-4444-555555555555";

describe("classifyScope", () => {
  test.each([
    ["/", "root"],
    ["/providers/Microsoft.Management/managementGroups/marketing-group", "managementGroup"],
    ["/PROVIDERS/microsoft.management/MANAGEMENTGROUPS/mg1/", "managementGroup"],
    ["/providers/Microsoft.Capacity", "tenant"],
    ["/providers/Microsoft.Management/managementGroups", "tenant"],
    [SUB, "subscription"],
    [`${SUB}/`, "subscription"],
    [`${SUB}/resourceGroups/rg1`, "resourceGroup"],
    [`${SUB}/resourcegroups/rg1`, "resourceGroup"],
    [`${SUB}/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/sa1`, "resource"],
    [`${SUB}/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/sa1/blobServices/default/containers/c`, "resource"],
    [`${SUB}/providers/Microsoft.Security/pricings/VirtualMachines`, "resource"],
    ["", "unrecognised"],
    ["subscriptions/x", "unrecognised"],
    ["/subscriptions", "unrecognised"],
    [`${SUB}/resourceGroups`, "unrecognised"],
    [`${SUB}/resourceGroups/rg1/providers`, "unrecognised"],
    [`${SUB}//resourceGroups/rg1`, "unrecognised"],
  ])("%s is %s", (scope, kind) => {
    expect(classifyScope(scope)).toBe(kind);
  });
});

describe("roles", () => {
  test("roleGuidOf takes the GUID from subscription- and tenant-level role definition ids, lowercased", () => {
    expect(roleGuidOf(`${SUB}/providers/Microsoft.Authorization/roleDefinitions/${BUILT_IN_ROLES.Owner.toUpperCase()}`)).toBe(
      BUILT_IN_ROLES.Owner,
    );
    expect(roleGuidOf(`/providers/Microsoft.Authorization/roleDefinitions/${BUILT_IN_ROLES.Reader}`)).toBe(BUILT_IN_ROLES.Reader);
    expect(roleGuidOf(`${SUB}/providers/Microsoft.Authorization/roleDefinitions/not-a-guid`)).toBeUndefined();
    expect(roleGuidOf(BUILT_IN_ROLES.Reader)).toBeUndefined();
  });

  test("roleGuidFromName accepts built-in names in any case and GUIDs, nothing else", () => {
    expect(roleGuidFromName("reader")).toBe(BUILT_IN_ROLES.Reader);
    expect(roleGuidFromName("User Access Administrator")).toBe(BUILT_IN_ROLES["User Access Administrator"]);
    expect(roleGuidFromName("B24988AC-6180-42A0-AB88-20F7382DD24C")).toBe(BUILT_IN_ROLES.Contributor);
    expect(roleGuidFromName("Ownr")).toBeUndefined();
  });
});

describe("setupOf: which setup a resource belongs to", () => {
  const lab = { type: "identitylab:lab:IdentityLab", name: "idlab" };
  const grant = { type: "identitylab:authorization:RoleGrant", name: "idlab-reader" };
  const setup = { type: "identitylab:setup:IdentitySetup", name: "web" };
  const stack = { type: "pulumi:pulumi:Stack", name: "identity-lab-dev" };

  test("the nearest IdentitySetup wins over nearer identitylab: components", () => {
    expect(setupOf([grant, setup, lab, stack])).toBe("web");
  });
  test("without a setup: the outermost identitylab: component (today: the lab), not the building block around the resource", () => {
    expect(setupOf([lab, stack])).toBe("idlab");
    expect(setupOf([grant, lab, stack])).toBe("idlab");
    expect(setupOf([grant])).toBe("idlab-reader");
  });
  test("outside the lab's components: none", () => {
    expect(setupOf([stack])).toBeUndefined();
    expect(setupOf([])).toBeUndefined();
  });
});

describe("URNs and types", () => {
  const urn =
    "urn:pulumi:dev::identity-lab::identitylab:lab:IdentityLab$identitylab:authorization:RoleGrant$azure-native:authorization:RoleAssignment::idlab-reader-assignment";
  test("urnTypes lists the qualified type's chain, own type last", () => {
    expect(urnTypes(urn)).toEqual([
      "identitylab:lab:IdentityLab",
      "identitylab:authorization:RoleGrant",
      "azure-native:authorization:RoleAssignment",
    ]);
    expect(urnTypes("not a urn")).toEqual([]);
  });
  test("insideLab looks at ancestors only, never the resource's own type", () => {
    expect(insideLab(urn)).toBe(true);
    expect(insideLab("urn:pulumi:dev::identity-lab::azure-native:authorization:RoleAssignment::ra")).toBe(false);
    expect(insideLab("urn:pulumi:dev::identity-lab::identitylab:lab:IdentityLab::idlab")).toBe(false);
    expect(
      insideLab("urn:pulumi:dev::identity-lab::azure-native:authorization:RoleAssignment::ra", [{ type: "identitylab:x:Y", name: "y" }]),
    ).toBe(true);
  });
  test("isAzureType ignores an API-version module suffix and nothing else", () => {
    expect(isAzureType("azure-native:network:SecurityRule", "network", "SecurityRule")).toBe(true);
    expect(isAzureType("azure-native:network/v20240301:SecurityRule", "network", "SecurityRule")).toBe(true);
    expect(isAzureType("azure-native:network:SecurityRules", "network", "SecurityRule")).toBe(false);
    expect(isAzureType("azure:network:SecurityRule", "network", "SecurityRule")).toBe(false);
  });
});
