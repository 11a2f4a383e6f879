import { guardConfig } from "./config";
import { POLICY, POLICY_NAMES } from "./policies";

describe("guardConfig", () => {
  test("no arguments: every policy at its default level, mandatory for the security ones", () => {
    const config = guardConfig();
    expect(Object.keys(config).sort()).toEqual([...POLICY_NAMES].sort());
    for (const name of POLICY_NAMES) {
      expect(config[name]).toEqual({ enforcementLevel: name === POLICY.vmDeletesItsResources ? "advisory" : "mandatory" });
    }
  });

  test("`all` sets every level; a named policy wins over `all`, as a level or with its settings", () => {
    const allowances = [{ setup: "web", role: "Reader", scope: "subscription" }];
    const config = guardConfig({
      all: "advisory",
      [POLICY.vmTrustedLaunch]: "mandatory",
      [POLICY.grantAboveResourceGroupNeedsAllowance]: { allowances },
      [POLICY.vmDeletesItsResources]: { enforcementLevel: "disabled" },
    });
    expect(config[POLICY.vmHasIdentity]).toEqual({ enforcementLevel: "advisory" });
    expect(config[POLICY.vmTrustedLaunch]).toEqual({ enforcementLevel: "mandatory" });
    expect(config[POLICY.grantAboveResourceGroupNeedsAllowance]).toEqual({ enforcementLevel: "advisory", allowances });
    expect(config[POLICY.vmDeletesItsResources]).toEqual({ enforcementLevel: "disabled" });
  });

  test("the scope policy stays mandatory under `all`, and naming it with a lower level is refused", () => {
    expect(guardConfig({ all: "disabled" })[POLICY.noAssignmentAboveSubscription]).toEqual({ enforcementLevel: "mandatory" });
    expect(() => guardConfig({ [POLICY.noAssignmentAboveSubscription]: "advisory" })).toThrow(
      `${POLICY.noAssignmentAboveSubscription}: is always mandatory; "advisory" is refused.`,
    );
    expect(guardConfig({ [POLICY.noAssignmentAboveSubscription]: "mandatory" })[POLICY.noAssignmentAboveSubscription]).toEqual({
      enforcementLevel: "mandatory",
    });
  });

  test("bad input is an error naming the key and the rule", () => {
    expect(() => guardConfig({ all: "strict" as any })).toThrow(
      'all: "strict" is not an enforcement level (advisory, mandatory, remediate, disabled).',
    );
    expect(() => guardConfig({ "vm-trustedlaunch": "mandatory" } as any)).toThrow(
      /^vm-trustedlaunch: not a policy of this pack \(policies: /,
    );
    expect(() => guardConfig({ [POLICY.vmTrustedLaunch]: { enforcementLevel: "on" as any } })).toThrow(
      `${POLICY.vmTrustedLaunch}.enforcementLevel: "on" is not an enforcement level`,
    );
    expect(() =>
      guardConfig({ [POLICY.noPrivilegedRoleAboveResourceGroup]: { allowances: [{ setup: "web", role: "Root", scope: "subscription" }] } }),
    ).toThrow(`${POLICY.noPrivilegedRoleAboveResourceGroup}.allowances[0].role: "Root" is neither a built-in role name`);
  });
});

test("README's example --policy-pack-config file is valid input with the documented effect", async () => {
  const file = JSON.parse(require("node:fs").readFileSync(require("node:path").join(__dirname, "policy-config.example.json"), "utf8"));
  const config = guardConfig(file);
  expect(config[POLICY.vmDeletesItsResources]).toEqual({ enforcementLevel: "mandatory" });
  expect(config[POLICY.grantAboveResourceGroupNeedsAllowance]).toEqual({
    enforcementLevel: "mandatory",
    allowances: [{ setup: "idlab", role: "Reader", scope: "subscription" }],
  });
});
