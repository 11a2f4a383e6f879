import published from "./roles.published.json";
import {
  BUILT_IN_ROLE_DEFINITIONS,
  BUILT_IN_ROLES,
  closestRoleName,
  READER,
  resolveRole,
  roleAssignmentName,
  roleDefinitionId,
  STORAGE_BLOB_DATA_READER,
} from "./roles";

const BUILT_IN_ROLES_DIR = "articles/role-based-access-control/built-in-roles/";

describe("the built-in role table", () => {
  it("holds, for every role, the GUID in the docs' JSON as `name`, and the id is built from it", () => {
    expect(published.roles.length).toBeGreaterThan(0);
    for (const { path, commit, definition } of published.roles) {
      expect(path.startsWith(BUILT_IN_ROLES_DIR) && path.endsWith(".md")).toBe(true);
      expect(commit).toMatch(/^[0-9a-f]{40}$/);
      expect(definition.name).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(definition.id).toBe(`/providers/Microsoft.Authorization/roleDefinitions/${definition.name}`);
      expect(definition.roleType).toBe("BuiltInRole");
      // The table flattens the permissions: that is only faithful while each role has one block.
      expect(definition.permissions).toHaveLength(1);
    }
  });

  it("matches the published definitions entry by entry: GUID, name, and all four lists verbatim", () => {
    expect(BUILT_IN_ROLE_DEFINITIONS.map((r) => r.roleName).sort()).toEqual(published.roles.map((r) => r.definition.roleName).sort());
    for (const { definition } of published.roles) {
      const row = BUILT_IN_ROLE_DEFINITIONS.find((r) => r.roleName === definition.roleName);
      const [block] = definition.permissions;
      expect({
        guid: row?.guid,
        roleName: row?.roleName,
        actions: row?.actions,
        notActions: row?.notActions,
        dataActions: row?.dataActions,
        notDataActions: row?.notDataActions,
      }).toEqual({ guid: definition.name, roleName: definition.roleName, ...block });
    }
  });

  it("has no GUID under two names and no name under two GUIDs", () => {
    for (const rows of [
      BUILT_IN_ROLE_DEFINITIONS.map((r) => [r.guid, r.roleName]),
      published.roles.map((r) => [r.definition.name, r.definition.roleName]),
    ]) {
      expect(new Set(rows.map(([g]) => g.toLowerCase())).size).toBe(rows.length);
      expect(new Set(rows.map(([, n]) => n.toLowerCase())).size).toBe(rows.length);
    }
  });

  it("covers the roles platform teams ask for", () => {
    const names = BUILT_IN_ROLE_DEFINITIONS.map((r) => r.roleName);
    for (const n of [
      "Reader",
      "Contributor",
      "Owner",
      "User Access Administrator",
      "Role Based Access Control Administrator",
      "Storage Blob Data Reader",
      "Storage Blob Data Contributor",
      "Key Vault Secrets User",
      "Key Vault Reader",
      "Monitoring Reader",
    ]) {
      expect(names).toContain(n);
    }
  });

  it("cannot be edited in place by any of the code that shares it", () => {
    expect(Object.isFrozen(BUILT_IN_ROLE_DEFINITIONS)).toBe(true);
    for (const r of BUILT_IN_ROLE_DEFINITIONS) {
      expect([r.roleName, Object.isFrozen(r), [r.actions, r.notActions, r.dataActions, r.notDataActions].every(Object.isFrozen)]).toEqual([
        r.roleName,
        true,
        true,
      ]);
    }
  });

  it("keeps the GUID map: each key is a role's name without spaces, each value its GUID", () => {
    // The tutorial's Reader, spelled out once more so that an edit to the table cannot move it silently.
    expect(BUILT_IN_ROLES.Reader).toBe("acdd72a7-3385-48ef-bd42-f606fba81ae7");
    expect(Object.entries(BUILT_IN_ROLES).sort()).toEqual(
      BUILT_IN_ROLE_DEFINITIONS.map((r) => [r.roleName.replace(/ /g, ""), r.guid]).sort(),
    );
  });

  it("keeps roleAssignmentName deterministic and case-insensitive, and roleDefinitionId's shape", () => {
    const a = roleAssignmentName("/subscriptions/S/resourceGroups/RG", READER.guid, "P");
    expect(a).toBe(roleAssignmentName("/subscriptions/s/resourcegroups/rg", READER.guid.toUpperCase(), "p"));
    expect(a).not.toBe(roleAssignmentName("/subscriptions/s/resourcegroups/rg", READER.guid, "q"));
    expect(roleDefinitionId("s", READER.guid)).toBe(`/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/${READER.guid}`);
  });
});

describe("resolveRole", () => {
  it("finds every built-in role by name in any case and spacing, by GUID in any case, and by its id", () => {
    for (const r of BUILT_IN_ROLE_DEFINITIONS) {
      const expected = { kind: "builtIn", guid: r.guid, definition: r };
      for (const input of [
        r.roleName,
        r.roleName.toUpperCase(),
        `  ${r.roleName.toLowerCase().replace(/ /g, "   ")} `,
        r.guid,
        r.guid.toUpperCase(),
        `/providers/Microsoft.Authorization/roleDefinitions/${r.guid}`,
        `/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.Authorization/roleDefinitions/${r.guid.toUpperCase()}`,
        `/SUBSCRIPTIONS/sub/PROVIDERS/microsoft.authorization/ROLEDEFINITIONS/${r.guid}`,
      ]) {
        expect([input, resolveRole(input)]).toEqual([input, expected]);
      }
    }
  });

  it("turns a GUID the table does not hold into a GUID-only reference, in lower case", () => {
    const custom = "0B5F2E8A-1C3D-4E5F-8A9B-0C1D2E3F4A5B";
    const expected = { kind: "guid", guid: custom.toLowerCase() };
    expect(resolveRole(custom)).toEqual(expected);
    expect(resolveRole(`/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/${custom}`)).toEqual(expected);
    expect(resolveRole(`/subscriptions/s/resourceGroups/rg/providers/Microsoft.Authorization/roleDefinitions/${custom}`)).toEqual(expected);
    expect(
      resolveRole(`/providers/Microsoft.Management/managementGroups/mg/providers/Microsoft.Authorization/roleDefinitions/${custom}`),
    ).toEqual(expected);
  });

  it("answers undefined to unknown names and to anything that is not a GUID or a role definition id", () => {
    for (const input of [
      "",
      "   ",
      "Reeder",
      "Reader2",
      "Storage Blob Data",
      `${READER.guid}x`,
      `{${READER.guid}}`,
      READER.guid.replace(/-/g, ""),
      `/subscriptions/s/providers/Microsoft.Authorization/roleAssignments/${READER.guid}`,
      `/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/${READER.guid}/extra`,
      `providers/Microsoft.Authorization/roleDefinitions/${READER.guid}`,
      `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a/providers/Microsoft.Authorization/roleDefinitions/${READER.guid}`,
      `junk/providers/Microsoft.Authorization/roleDefinitions/${READER.guid}`,
      `/subscriptions//providers/Microsoft.Authorization/roleDefinitions/${READER.guid}`,
    ]) {
      expect([input, resolveRole(input)]).toEqual([input, undefined]);
    }
  });
});

describe("closestRoleName", () => {
  it("suggests the role a typo or a partial name meant", () => {
    expect(closestRoleName("Reeder")).toBe("Reader");
    expect(closestRoleName("contributer")).toBe("Contributor");
    expect(closestRoleName("Storage Blob Data Readers")).toBe("Storage Blob Data Reader");
    expect(closestRoleName("key vault secret user")).toBe("Key Vault Secrets User");
    expect(closestRoleName("KeyVault Reader")).toBe("Key Vault Reader");
    expect(closestRoleName("blob reader")).toBe(STORAGE_BLOB_DATA_READER.roleName);
    expect(closestRoleName("RBAC Administrator")).toBe("Role Based Access Control Administrator");
  });

  it("suggests nothing for input that is nowhere near a role", () => {
    for (const input of ["", "  ", "xyzzy", "Virtual Machine Contributor but much longer than that", READER.guid]) {
      expect([input, closestRoleName(input)]).toEqual([input, undefined]);
    }
  });

  it("brings every single-character deletion or doubling of a name back to that name", () => {
    for (const r of BUILT_IN_ROLE_DEFINITIONS) {
      expect(closestRoleName(r.roleName)).toBe(r.roleName);
      for (let i = 0; i < r.roleName.length; i++) {
        const dropped = r.roleName.slice(0, i) + r.roleName.slice(i + 1);
        const doubled = r.roleName.slice(0, i) + r.roleName[i] + r.roleName.slice(i);
        expect([dropped, closestRoleName(dropped)]).toEqual([dropped, r.roleName]);
        expect([doubled, closestRoleName(doubled)]).toEqual([doubled, r.roleName]);
      }
    }
  });
});
