/**
 * The whole pack over what the program registers: index.ts runs under Pulumi's mock runtime
 * (offline/mockAzure.ts), every registered resource is rebuilt with its inputs and parent chain,
 * and every policy runs over all of them as @pulumi/policy's analyzer would.
 *
 * EXAMPLES is the list to grow: each entry is a stack config for index.ts, optionally more
 * resources registered beside it (here: issue 9's identity-setup shape), the pack's config, and
 * exactly the violations expected (none for a stack that must pass clean).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as compute from "@pulumi/azure-native/compute";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import * as network from "@pulumi/azure-native/network";
import type { PolicyResource } from "@pulumi/policy";
import { readStackConfig } from "../offline/cli";
import { SUBSCRIPTION_ID, installMocks, probeInstanceView, settle, valueOf } from "../offline/mockAzure";
import { stdoutWith, successReport } from "../offline/sampleReports";
import { GuardArgs, guardConfig } from "./config";
import { POLICIES, POLICY, PolicyName, ancestorsOf } from "./policies";
import { BUILT_IN_ROLES, setupOf } from "./scope";
import { recordRegistrations, runPack, stackFrom } from "./testkit";

const azure = installMocks();
const registrations = recordRegistrations();
const SUB = `/subscriptions/${SUBSCRIPTION_ID}`;

/** Issue 9's shape, standing in until it lands: a setup with a user-assigned identity, its grants and a Linux VM. */
class ExampleSetup extends pulumi.ComponentResource {
  constructor(name: string, args: { grants: { role: string; scope: string }[]; linuxPasswords?: boolean }) {
    super("identitylab:setup:IdentitySetup", name, {}, {});
    const uai = new managedidentity.UserAssignedIdentity(
      `${name}-identity`,
      { resourceGroupName: "rg", location: "eastus2" },
      { parent: this },
    );
    args.grants.forEach(
      (g, i) =>
        new authorization.RoleAssignment(
          `${name}-grant-${i}`,
          {
            scope: g.scope,
            principalId: "bbbbbbbb-0000-4000-8000-000000000001",
            principalType: "ServicePrincipal",
            roleDefinitionId: `${SUB}/providers/Microsoft.Authorization/roleDefinitions/${g.role}`,
          },
          { parent: this, dependsOn: [uai] },
        ),
    );
    new compute.VirtualMachine(
      `${name}-vm`,
      {
        resourceGroupName: "rg",
        identity: { type: "SystemAssigned, UserAssigned", userAssignedIdentities: [uai.id] },
        securityProfile: { securityType: "TrustedLaunch", uefiSettings: { secureBootEnabled: true, vTpmEnabled: true } },
        storageProfile: { osDisk: { createOption: "FromImage", deleteOption: "Delete" } },
        osProfile: {
          computerName: name,
          adminUsername: "labadmin",
          linuxConfiguration: {
            disablePasswordAuthentication: !args.linuxPasswords,
            ssh: { publicKeys: [{ path: "/home/labadmin/.ssh/authorized_keys", keyData: "ssh-ed25519 AAAA" }] },
          },
        },
        networkProfile: {
          networkApiVersion: "2022-11-01",
          networkInterfaceConfigurations: [
            { name: `${name}-nic`, deleteOption: "Delete", ipConfigurations: [{ name: "ipconfig1", subnet: { id: "subnet" } }] },
          ],
        },
      },
      { parent: this },
    );
    this.registerOutputs({});
  }
}

interface ExampleStack {
  readonly name: string;
  /** The stack's config for index.ts (identity-lab:* keys). */
  readonly config?: Record<string, string>;
  /** More resources registered beside the program. */
  readonly extra?: () => pulumi.Resource[];
  readonly pack?: GuardArgs;
  /** Exactly the violations expected, in the pack's order. */
  readonly expected: readonly { policy: PolicyName; message: RegExp }[];
}

const readerAtSubscription = () => [new ExampleSetup("reporting", { grants: [{ role: BUILT_IN_ROLES.Reader, scope: SUB }] })];

const EXAMPLES: readonly ExampleStack[] = [
  { name: "the default stack", expected: [] },
  { name: "RDP opted in from one address", config: { "identity-lab:rdpSourceCidr": "203.0.113.7/32" }, expected: [] },
  { name: "default outbound access, no NAT gateway", config: { "identity-lab:outboundAccess": "defaultOutboundAccess" }, expected: [] },
  {
    // The lab's own config refuses a /16 before anything is registered (settings/rules.ts); the
    // pack is the guardrail for code that builds rules some other way, e.g. a second NSG beside the lab.
    name: "an NSG beside the lab that opens RDP to a /16",
    config: { "identity-lab:rdpSourceCidr": "203.0.113.7/32" },
    extra: () => [
      new network.NetworkSecurityGroup("extra-nsg", {
        resourceGroupName: "rg",
        securityRules: [
          {
            name: "allow-rdp-from-opted-in-source",
            priority: 100,
            direction: "Inbound",
            access: "Allow",
            protocol: "Tcp",
            sourceAddressPrefix: "198.51.0.0/16",
            sourcePortRange: "*",
            destinationAddressPrefix: "*",
            destinationPortRange: "3389",
          },
        ],
      }),
    ],
    expected: [
      {
        policy: POLICY.noOpenManagementPorts,
        message: /^rule "allow-rdp-from-opted-in-source" allows inbound port 3389 from "198\.51\.0\.0\/16" is wider than \/24\.$/,
      },
    ],
  },
  {
    name: "a setup granting Reader at subscription scope, without an allowance",
    extra: readerAtSubscription,
    expected: [
      {
        policy: POLICY.grantAboveResourceGroupNeedsAllowance,
        message: /^Setup "reporting" grants Reader \(.*\) to a managed identity at subscription scope .* without an allowance\./,
      },
    ],
  },
  {
    name: "the same setup with its allowance",
    extra: readerAtSubscription,
    pack: {
      [POLICY.grantAboveResourceGroupNeedsAllowance]: { allowances: [{ setup: "reporting", role: "Reader", scope: "subscription" }] },
    },
    expected: [],
  },
  {
    name: "a setup granting Owner at subscription scope, allowed as a grant but not as a privileged role",
    extra: () => [
      new ExampleSetup("admin", {
        grants: [
          { role: BUILT_IN_ROLES.Owner, scope: SUB },
          { role: BUILT_IN_ROLES.Contributor, scope: `${SUB}/resourceGroups/rg` },
        ],
      }),
    ],
    pack: { [POLICY.grantAboveResourceGroupNeedsAllowance]: { allowances: [{ setup: "admin", role: "Owner", scope: "subscription" }] } },
    expected: [
      {
        policy: POLICY.noPrivilegedRoleAboveResourceGroup,
        message: /^Setup "admin" grants Owner \(8e3af657-a8ff-443c-a75c-2fe8c4bcb635\) to a managed identity at subscription scope/,
      },
    ],
  },
  {
    name: "a setup whose Linux VM allows passwords",
    extra: () => [new ExampleSetup("linux", { grants: [], linuxPasswords: true })],
    expected: [{ policy: POLICY.vmLinuxNoPassword, message: /^Linux VM allows password authentication/ }],
  },
];

async function deployExample(example: ExampleStack): Promise<PolicyResource[]> {
  const from = { registered: azure.registered.length, registrations: registrations.length };
  pulumi.runtime.setAllConfig(example.config ?? {});
  azure.instanceView = (rg: string) => probeInstanceView(stdoutWith(successReport(rg)));
  let program: Record<string, pulumi.Output<unknown>> = {};
  jest.isolateModules(() => {
    program = require("../index");
  });
  const extra = example.extra?.() ?? [];
  await Promise.all([...Object.values(program).map((o) => settle(o)), ...extra.map((r) => valueOf(r.urn))]);
  // Registrations trail the outputs by a few turns of the event loop.
  let count = -1;
  while (count !== registrations.length) {
    count = registrations.length;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return stackFrom(azure, registrations, from);
}

describe.each(EXAMPLES.map((e) => [e.name, e] as const))("the pack over %s", (_name, example) => {
  let resources: PolicyResource[];
  beforeAll(async () => {
    resources = await deployExample(example);
  });

  test("the recorded stack is the program's: lab, role assignment, NSG and VM, linked to their parents", () => {
    const types = resources.map((r) => r.type);
    for (const t of [
      "identitylab:lab:IdentityLab",
      "azure-native:authorization:RoleAssignment",
      "azure-native:network:NetworkSecurityGroup",
      "azure-native:compute:VirtualMachine",
    ])
      expect(types).toContain(t);
    const labGrant = resources.find((r) => r.type === "azure-native:authorization:RoleAssignment" && r.name === "idlab-reader-assignment")!;
    expect(ancestorsOf(labGrant).map((a) => a.type)).toEqual([
      "identitylab:authorization:RoleGrant",
      "identitylab:setup:IdentitySetup",
      "identitylab:lab:IdentityLab",
    ]);
    expect(setupOf(ancestorsOf(labGrant))).toBe("idlab");
    expect(labGrant.props.scope).toMatch(/^\/subscriptions\/.*\/resourceGroups\/idlab-rg/);
  });

  test(`violations: ${example.expected.length ? example.expected.map((e) => e.policy).join(", ") : "none"}`, async () => {
    const violations = await runPack(POLICIES, resources, guardConfig(example.pack));
    expect(violations.map((v) => ({ policy: v.policy, message: v.message }))).toEqual(
      example.expected.map((e) => ({ policy: e.policy, message: expect.stringMatching(e.message) })),
    );
    for (const v of violations) expect(v.level).toBe("mandatory");
  });
});

/**
 * The stacks in examples/, each with its own Pulumi.<stack>.yaml and, where it has one, the pack config that
 * goes with it (`--policy-pack-config examples/<dir>/policy-config.json`). An example with an allowance is also
 * checked without it, so that the allowance is shown to be what lets it pass.
 */
const EXAMPLE_DIRS: ReadonlyArray<{ dir: string; withoutPackConfig?: readonly PolicyName[] }> = [
  { dir: "tutorial" },
  { dir: "uami-storage" },
  { dir: "linux-subscription", withoutPackConfig: [POLICY.grantAboveResourceGroupNeedsAllowance] },
];
const examplesRoot = path.join(__dirname, "..", "examples");

test("every folder of examples/ is checked here", () => {
  expect(
    readdirSync(examplesRoot, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort(),
  ).toEqual(EXAMPLE_DIRS.map((e) => e.dir).sort());
});

describe.each(EXAMPLE_DIRS.map((e) => [e.dir, e] as const))("the pack over examples/%s", (dir, example) => {
  const folder = path.join(examplesRoot, dir);
  const stackFile = readdirSync(folder).find((f) => /^Pulumi\..+\.yaml$/.test(f))!;
  const packFile = path.join(folder, "policy-config.json");
  const pack = existsSync(packFile) ? (JSON.parse(readFileSync(packFile, "utf8")) as GuardArgs) : undefined;
  let resources: PolicyResource[];
  beforeAll(async () => {
    // The mock VM answers with a tutorial report; the pack does not read the probe's verdict, so report mode keeps it quiet.
    const config = { ...readStackConfig(path.join(folder, stackFile)), "identity-lab:probeFailureMode": "report" };
    resources = await deployExample({ name: dir, config, expected: [] });
  });

  test("deploys under mocks: one setup at least, each VM with its grants", () => {
    expect(resources.filter((r) => r.type === "identitylab:setup:IdentitySetup").length).toBeGreaterThan(0);
    expect(resources.filter((r) => r.type === "azure-native:authorization:RoleAssignment").length).toBeGreaterThan(0);
  });

  test(`passes the pack${pack ? " with its policy-config.json" : ""}`, async () => {
    expect(await runPack(POLICIES, resources, guardConfig(pack))).toEqual([]);
  });

  if (example.withoutPackConfig) {
    test(`without its policy-config.json: ${example.withoutPackConfig.join(", ")}`, async () => {
      const violations = await runPack(POLICIES, resources, guardConfig(undefined));
      expect(violations.map((v) => [v.policy, v.level])).toEqual(example.withoutPackConfig!.map((p) => [p, "mandatory"]));
    });
  }
});
