/**
 * Identity setups, rehearsed: the real program with a `setups` list, deployed into the simulated Azure,
 * every grant proven by the real probe (grants mode, delivered through the VM's userData) against the
 * emulator, then torn down. Each scenario is one `npm run rehearse` argument list; the lanes run side by side
 * (tests/e2e/rehearseInSequence.ts), several rehearsals per child process.
 */
import type { RehearsalResult } from "../../offline/rehearse";
import { rehearseInSequence, type Run } from "./lanes";

interface GrantSummary {
  n: string;
  role: string;
  scope: string;
  identity: "systemAssigned" | "userAssigned";
  verdict: "proven" | "missing" | "overPrivileged";
  missing: string[];
  extra: string[];
  problem: string | null;
}
interface SetupSummary {
  vmName: string;
  os: string;
  principalIds: { systemAssigned: string | null; userAssigned: string | null };
  status: string;
  grants: GrantSummary[];
  problem: { cause: string; nextStep: string } | null;
}

const setups = (list: unknown[]) => ["--config", `setups=${JSON.stringify(list)}`];
const deadline = ["--probe-deadline", "10"];
const readerOnUami = setups([{ name: "app", identity: "userAssigned", grants: [{ role: "Reader", scope: "resourceGroup" }] }]);
/** Ten setups in one stack, half of them with a user-assigned identity reading blobs. */
const TEN = Array.from({ length: 10 }, (_, i) =>
  i % 2
    ? { name: `s${i}`, identity: "userAssigned", grants: [{ role: "Storage Blob Data Reader", scope: "storageAccount" }] }
    : {
        name: `s${i}`,
        grants: [
          { role: "Reader", scope: "resourceGroup" },
          { role: "Monitoring Reader", scope: "resourceGroup" },
        ],
      },
);

const SCENARIOS = {
  // VM creation takes 3 s and the assignment 1 s, so the critical path can show what waits for what.
  uamiStorage: ["--stack-config", "examples/uami-storage/Pulumi.uami-storage.yaml", "--vm-create", "3", "--assignment-latency", "1"],
  both: setups([
    {
      name: "app",
      identity: "both",
      grants: [
        { role: "Reader", scope: "resourceGroup", identity: "systemAssigned" },
        { role: "Storage Blob Data Reader", scope: "storageAccount", identity: "userAssigned" },
      ],
    },
  ]),
  subscription: setups([{ name: "ops", grants: [{ role: "Reader", scope: "subscription" }] }]),
  over: [...readerOnUami, "--prior-grant", "idlab-app-identity:Contributor@subscription"],
  overFails: [...readerOnUami, "--prior-grant", "idlab-app-identity:Contributor@subscription", "--config", "failOnOverPrivilege=true"],
  // Negative control for the data plane: the blob grant lands on another resource group's scope.
  misplacedBlobGrant: ["--stack-config", "examples/uami-storage/Pulumi.uami-storage.yaml", "--mutate", "wrong-scope", ...deadline],
  ten: setups(TEN),
  // A Windows and a Linux setup in one stack: pwsh and dash probes, one parser, one verdict.
  mixed: setups([{ name: "vm" }, { name: "lx", os: "linux" }]),
  tutorialExample: ["--stack-config", "examples/tutorial/Pulumi.tutorial.yaml"],
  linuxExample: ["--stack-config", "examples/linux-subscription/Pulumi.linux-subscription.yaml"],
} satisfies Record<string, string[]>;
type Scenario = keyof typeof SCENARIOS;
const LANES: Scenario[][] = [
  ["ten", "tutorialExample"],
  ["uamiStorage", "both", "misplacedBlobGrant", "mixed"],
  ["subscription", "over", "overFails", "linuxExample"],
];

const runs = {} as Record<Scenario, Run>;
beforeAll(async () => {
  // uamiStorage runs its VM's loader and probe in a pwsh process of its own, as on Azure; the rest in warm hosts.
  const lanes = await Promise.all(LANES.map((lane) => rehearseInSequence(SCENARIOS, lane, ["uamiStorage"])));
  for (const [name, run] of lanes.flat()) runs[name] = run;
}, 170_000);

const setupsOf = (r: Run) => r.result.outputs.setups as Record<string, SetupSummary>;
const ops = (r: RehearsalResult, type: string) => r.operations.filter((o) => o.type === `azure-native:${type}`);

function expectClean(run: Run): void {
  expect({ code: run.code, errors: run.result.errors }).toEqual({ code: 0, errors: [] });
  expect(run.result.teardown.leftovers).toEqual([]);
  expect(run.result.teardown.errors).toEqual([]);
  expect(run.result.teardown.sweptWithResourceGroup).toEqual([]);
}

describe("identity setups, rehearsed end to end", () => {
  test("a user-assigned identity with Storage Blob Data Reader on the stack's storage account: the data plane is proven", () => {
    const run = runs.uamiStorage;
    expectClean(run);
    const app = setupsOf(run).app;
    expect(app.status).toBe("succeeded");
    expect(app.principalIds.systemAssigned).toBeNull();
    expect(app.grants).toEqual([
      expect.objectContaining({ role: "Storage Blob Data Reader", identity: "userAssigned", verdict: "proven", missing: [], extra: [] }),
    ]);
    expect(app.grants[0].scope).toMatch(/\/providers\/Microsoft\.Storage\/storageAccounts\/[a-z0-9]{3,24}$/);
    // Torn down with everything else, the identity and the storage account included.
    const deleted = run.result.teardown.deleted.join("\n");
    expect(deleted).toMatch(/userAssignedIdentities\//);
    expect(deleted).toMatch(/storageAccounts\//);
  });

  test("the grant to a user-assigned identity propagates while the VM is built: it is off the critical path", () => {
    const r = runs.uamiStorage.result;
    const [grant] = ops(r, "authorization:RoleAssignment");
    const [vm] = ops(r, "compute:VirtualMachine");
    const [probe] = ops(r, "compute:VirtualMachineExtension");
    // It starts before the VM is done and is done before the probe starts; the VM never waited for it.
    expect(grant.startMs).toBeLessThan(vm.endMs);
    expect(grant.endMs).toBeLessThanOrEqual(probe.startMs);
    expect(r.criticalPath.map((s) => s.type)).not.toContain("azure-native:authorization:RoleAssignment");
    expect(r.criticalPath.map((s) => s.type).slice(-2)).toEqual([
      "azure-native:compute:VirtualMachine",
      "azure-native:compute:VirtualMachineExtension",
    ]);
  });

  test("both identities with different grants: each grant is answered by its own identity", () => {
    const run = runs.both;
    expectClean(run);
    const app = setupsOf(run).app;
    expect(app.principalIds.systemAssigned).toMatch(/^[0-9a-f-]{36}$/);
    expect(app.principalIds.userAssigned).toMatch(/^[0-9a-f-]{36}$/);
    expect(app.principalIds.systemAssigned).not.toBe(app.principalIds.userAssigned);
    expect(app.grants.map((g) => [g.role, g.identity, g.verdict])).toEqual([
      ["Reader", "systemAssigned", "proven"],
      ["Storage Blob Data Reader", "userAssigned", "proven"],
    ]);
  });

  test("Reader at subscription scope", () => {
    const run = runs.subscription;
    expectClean(run);
    const ops_ = setupsOf(run).ops;
    expect(ops_.grants).toEqual([expect.objectContaining({ role: "Reader", verdict: "proven", extra: [] })]);
    expect(ops_.grants[0].scope).toMatch(/^\/subscriptions\/[0-9a-f-]{36}$/);
  });

  test("an identity that already holds Contributor on the subscription is reported over-privileged, and the update warns only", () => {
    const run = runs.over;
    expectClean(run);
    const [grant] = setupsOf(run).app.grants;
    expect(grant.verdict).toBe("overPrivileged");
    expect(grant.extra).toContain("*");
    expect(grant.problem).toMatch(/more than Reader/);
  });

  test("with failOnOverPrivilege the same stack fails the update, and still tears down cleanly", () => {
    const run = runs.overFails;
    expect(run.code).toBe(1);
    expect(run.result.failed).toBe(true);
    expect(run.result.errors.join("\n")).toMatch(/over-privilege|more than Reader/i);
    expect(run.result.teardown.leftovers).toEqual([]);
  });

  test("negative control: a blob grant on the wrong scope is missing, and the update fails", () => {
    const run = runs.misplacedBlobGrant;
    expect(run.code).toBe(1);
    expect(run.result.failed).toBe(true);
    const [grant] = setupsOf(run).app.grants;
    expect(grant.verdict).toBe("missing");
    expect(run.result.teardown.leftovers).toEqual([]);
  });

  test("ten setups in one stack share the resource group and the network, and every grant is proven", () => {
    const run = runs.ten;
    expectClean(run);
    const all = setupsOf(run);
    expect(Object.keys(all).sort()).toEqual(TEN.map((s) => s.name).sort());
    for (const s of Object.values(all)) expect(s.grants.every((g) => g.verdict === "proven")).toBe(true);
    expect(ops(run.result, "resources:ResourceGroup")).toHaveLength(1);
    expect(ops(run.result, "network:VirtualNetwork")).toHaveLength(1);
    expect(ops(run.result, "compute:VirtualMachine")).toHaveLength(10);
    expect(ops(run.result, "storage:StorageAccount")).toHaveLength(1);
  });

  test("a Windows and a Linux setup in one stack: each proven by its own probe, read by the same parser", () => {
    const run = runs.mixed;
    expectClean(run);
    const all = setupsOf(run);
    expect([all.vm.os, all.lx.os]).toEqual(["windows", "linux"]);
    for (const s of [all.vm, all.lx]) expect(s.grants.map((g) => g.verdict)).toEqual(["proven"]);
    const extensions = ops(run.result, "compute:VirtualMachineExtension");
    expect(extensions.map((o) => o.detail)).toEqual([expect.stringMatching(/^probe exited 0/), expect.stringMatching(/^probe exited 0/)]);
  });
});

describe("examples/, each rehearsed", () => {
  test("tutorial: the default lab", () => {
    const run = runs.tutorialExample;
    expectClean(run);
    expect(run.result.outputs.probeStatus).toBe("succeeded");
    expect(setupsOf(run).vm.grants.map((g) => g.verdict)).toEqual(["proven"]);
  });

  test("linux-subscription: Ubuntu, Reader on the subscription, proven from the VM by the sh probe", () => {
    const run = runs.linuxExample;
    expectClean(run);
    const ops_ = setupsOf(run).ops;
    expect(ops_.os).toBe("linux");
    expect(ops_.grants).toEqual([expect.objectContaining({ role: "Reader", verdict: "proven", extra: [] })]);
    expect(ops_.grants[0].scope).toMatch(/^\/subscriptions\/[0-9a-f-]{36}$/);
  });
});
