/**
 * The rehearsal as the project's end-to-end test: the real program, deployed
 * into the simulated Azure, with the real probe command run by real pwsh.
 * The mutations prove the whole chain can fail.
 *
 * One run goes through `npm run rehearse` exactly as the README shows it. The other
 * scenarios run in a few child processes, several rehearsals each, one after another
 * (tests/e2e/rehearseInSequence.ts, TypeScript stripped by swc as under jest): node and
 * Pulumi's SDK start once per child, and the children run side by side.
 */
import type { RehearsalResult } from "../../offline/rehearse";
import { findPwsh } from "../../offline/pwsh";
import { runToEnd } from "../../offline/process";
import { rehearseInSequence, root, type Run } from "./lanes";

/**
 * Every failing probe gets 10 s: it gives up after its 7 s attempt (attempts at 0, 1, 3 and
 * 7 s from the script's start; the next wait would pass the deadline), and its first ARM
 * answer has 10 s to arrive on a loaded machine: one that came later (a 5 s deadline under
 * load) made the reason "could not reach ARM". The wait costs no CPU; the lanes overlap it.
 */
const deadline = ["--probe-deadline", "10"];
/**
 * The race of a missing dependsOn, made deterministic: under --late-assignment the
 * simulated Azure creates the role assignment only once the extensions running
 * alongside it have finished, so a probe that does not wait for it can never see it.
 * The program's real dependency orders the probe after the assignment, so the same
 * options succeed: 2 s of RBAC propagation fit in the probe's 10 s, with room for a slow start.
 */
const race = ["--late-assignment", "--rbac-delay", "2", ...deadline];
const SCENARIOS = {
  plain: [],
  troubled: ["--rbac-delay", "3", "--fault", "imds:410x2", "--fault", "resourceGroup:429:retry-after=1", "--fault", "resourceGroup:503"],
  devStack: ["--stack-config", "Pulumi.dev.yaml", "--config", "rdpSourceCidr=203.0.113.7/32"],
  "wrong-scope": ["--mutate", "wrong-scope", ...deadline],
  "wrong-principal": ["--mutate", "wrong-principal", ...deadline],
  "role-without-read": ["--mutate", "role-without-read", ...deadline],
  "no-dependency": ["--mutate", "no-dependency", ...race],
  control: race,
  badConfig: ["--config", "rdpSourceCidr=0.0.0.0/0"],
  bogusGroup: ["--fault", "resourceGroup:200"],
  bogusPermissions: ["--fault", "permissions:200"],
} satisfies Record<string, string[]>;
type Scenario = keyof typeof SCENARIOS;
/**
 * Children, each with about the same wall time (~18 s on an idle machine): a failing probe
 * waits ~7 s, the troubled run's backoff ~6 s, a succeeding probe ~1 s, each on top of
 * pwsh's ~1.5 s start-up.
 */
const LANES: Scenario[][] = [
  ["troubled", "wrong-scope", "badConfig"],
  ["no-dependency", "control", "devStack", "plain"],
  ["wrong-principal", "role-without-read", "bogusGroup", "bogusPermissions"],
];

const runs = {} as Record<Scenario, Run>;
let cli: Awaited<ReturnType<typeof runToEnd>>;
beforeAll(async () => {
  const [readme, ...lanes] = await Promise.all([
    runToEnd("npm", ["run", "rehearse"], {
      cwd: root,
      env: { ...process.env, PWSH: findPwsh(), npm_config_update_notifier: "false" },
    }),
    ...LANES.map((lane) => rehearseInSequence(SCENARIOS, lane)),
  ]);
  cli = readme;
  for (const [name, run] of lanes.flat()) runs[name] = run;
}, 150_000);

const types = (r: RehearsalResult) => r.criticalPath.map((s) => s.type.split(":").pop());
const op = (r: RehearsalResult, type: string) => r.operations.find((o) => o.type === `azure-native:${type}`)!;

test("`npm run rehearse`, as the README runs it: progress, outputs, critical path, a clean teardown", () => {
  // npm's own notices aside (they depend on the user's npm config), nothing on stderr.
  const stderr = cli.stderr
    .split("\n")
    .filter((l) => l.trim() !== "" && !/^npm (warn|notice)/i.test(l))
    .join("\n");
  expect({ code: cli.code, stderr }).toEqual({ code: 0, stderr: "" });
  const out = cli.stdout;
  expect(out).toMatch(/against a simulated Azure: nothing leaves this machine/);
  expect(out).toMatch(/ \+ {2}azure-native:compute:VirtualMachineExtension +idlab-probe-extension +created .*\(probe exited 0 after/);
  expect(out).toMatch(/^Resources: 9 created$/m);
  expect(out).toMatch(/^Outputs:$/m);
  expect(out).toMatch(/^ {4}probeStatus: succeeded$/m);
  expect(out).toMatch(/^ {4}adminPassword: \[secret\]$/m);
  expect(out).toMatch(/^Critical path \(each step waited for the one before it\):$/m);
  expect(out).toMatch(
    /s {2}azure-native:authorization:RoleAssignment idlab-reader-assignment\n.*s {2}azure-native:compute:VirtualMachineExtension/,
  );
  expect(out).toMatch(/^Rehearsing `pulumi destroy` \(dependents first\):$/m);
  expect(out).toMatch(/^Teardown: \d+ deleted; 0 left behind; 0 errors\.$/m);
  expect(out).toMatch(/Azure's own, not Pulumi's \(destroy leaves it\): .*networkWatchers/);
  expect(out).not.toMatch(/LEFT BEHIND|ERROR|error: the update failed/);
  expect(out).toMatch(/This was a rehearsal \(\d+\.\ds\): .* No Azure was contacted\.$/m);
});

describe("the real program, rehearsed", () => {
  test("succeeds, with the stack outputs `pulumi up` would print", () => {
    const { plain } = runs;
    expect({ code: plain.code, errors: plain.result.errors }).toEqual({ code: 0, errors: [] });
    const o = plain.result.outputs;
    expect(o.probeStatus).toBe("succeeded");
    expect(o.adminPassword).toBe("[secret]");
    expect(o.probeIdentityObjectId).toBe(o.principalId);
    expect((o.probeResourceGroup as any).name).toBe(o.resourceGroupName);
    expect(o.probePermissions).toEqual([{ actions: ["*/read"], notActions: [], dataActions: [], notDataActions: [] }]);
    expect(o.roleAssignmentId).toMatch(
      new RegExp(`/resourceGroups/${o.resourceGroupName}/providers/Microsoft.Authorization/roleAssignments/`),
    );
  });

  test("the critical path runs through the VM, the role assignment and the probe", () => {
    expect(types(runs.plain.result).slice(-3)).toEqual(["VirtualMachine", "RoleAssignment", "VirtualMachineExtension"]);
    expect(types(runs.plain.result)[0]).toBe("ResourceGroup");
  });

  test("the teardown leaves nothing behind and names what Azure made by itself", () => {
    const t = runs.plain.result.teardown;
    expect(t.errors).toEqual([]);
    expect(t.leftovers).toEqual([]);
    expect(t.sweptWithResourceGroup).toEqual([]);
    expect(t.deleted.some((id) => /\/disks\/.*_OsDisk_/.test(id))).toBe(true);
    expect(t.deleted.some((id) => /\/networkInterfaces\//.test(id))).toBe(true);
    expect(t.deleted.some((id) => /\/roleAssignments\//.test(id))).toBe(true);
    expect(t.implicit.map((i) => i.type)).toEqual(["Microsoft.Network/networkWatchers"]);
  });

  test("rides out RBAC delay, IMDS 410s, ARM 429 with Retry-After and a 503", () => {
    const { troubled } = runs;
    expect({ code: troubled.code, errors: troubled.result.errors }).toEqual({ code: 0, errors: [] });
    expect(troubled.result.outputs.probeStatus).toBe("succeeded");
    const attempts = troubled.result.outputs.probeAttempts as { imds: number; resourceGroup: number };
    expect(attempts.imds).toBe(3);
    // 429 (honouring Retry-After), 503, then 200: the 3 s RBAC delay ran out during the IMDS retries.
    expect(attempts.resourceGroup).toBeGreaterThanOrEqual(3);
  });

  test("Pulumi.dev.yaml with RDP opted in: the VM's public IP goes with the VM", () => {
    const { devStack } = runs;
    expect({ code: devStack.code, errors: devStack.result.errors }).toEqual({ code: 0, errors: [] });
    expect(devStack.result.outputs.resourceGroupName).toMatch(/^idlab-dev-rg/);
    expect(devStack.result.teardown.deleted.some((id) => /\/publicIPAddresses\/idlab-dev-pip$/.test(id))).toBe(true);
    expect(devStack.result.teardown.leftovers).toEqual([]);
  });
});

describe("mutations: each misconfiguration fails the update with the probe's reason", () => {
  const cases: Array<[Scenario, RegExp]> = [
    ["wrong-scope", /ARM kept refusing identity/],
    ["wrong-principal", /ARM kept refusing identity/],
    ["role-without-read", /ARM kept refusing identity/],
    ["no-dependency", /ARM kept refusing identity/],
  ];

  test.each(cases)("%s", (name, reason) => {
    const run = runs[name];
    expect({ code: run.code, probeStatus: run.result.outputs.probeStatus }).toEqual({ code: 1, probeStatus: "failed" });
    expect(run.result.failed).toBe(true);
    expect(run.result.outputs.probeStatus).toBe("failed");
    expect(run.result.errors).toHaveLength(1);
    expect(run.result.errors[0]).toMatch(/^The identity probe failed: /);
    expect(run.result.errors[0]).toMatch(reason);
    expect(run.result.errors[0]).toMatch(/Next step: check `az role assignment list/);
    // Still torn down cleanly: a failed probe leaves consistent state.
    expect(run.result.teardown.leftovers).toEqual([]);
    if (name === "no-dependency") {
      // The simulated Azure's own log: the probe ran, and gave up, before the assignment existed.
      const r = run.result;
      expect(op(r, "compute:VirtualMachineExtension").startMs).toBeLessThan(op(r, "authorization:RoleAssignment").startMs + 500);
      expect(op(r, "compute:VirtualMachineExtension").endMs).toBeLessThanOrEqual(op(r, "authorization:RoleAssignment").endMs);
    }
  });

  test("control: the real program under the same timing as no-dependency succeeds", () => {
    const { control } = runs;
    expect({ code: control.code, errors: control.result.errors }).toEqual({ code: 0, errors: [] });
    expect(control.result.outputs.probeStatus).toBe("succeeded");
    // Its dependency made the probe wait for the assignment.
    expect(op(control.result, "compute:VirtualMachineExtension").startMs).toBeGreaterThanOrEqual(
      op(control.result, "authorization:RoleAssignment").endMs,
    );
  });
});

test("bad config: nothing is created, and the error names the key", () => {
  const run = runs.badConfig;
  expect(run.code).toBe(1);
  expect(run.result.operations).toEqual([]);
  expect(run.result.errors.join("\n")).toMatch(/identity-lab:rdpSourceCidr: "0.0.0.0\/0" would open RDP to the whole Internet/);
  // Printed once: the error the program threw also comes back as the Stack's unhandled rejections.
  expect(run.result.errors).toHaveLength(1);
});

test.each([
  ["bogusGroup", "resourceGroup:200", /ARM answered 200 in phase resourceGroup, but not with what was asked for/],
  ["bogusPermissions", "permissions:200", /ARM answered 200 in phase permissions, but not with what was asked for/],
] as const)("a bogus 200 (%s, --fault %s) is no success: the update fails with the probe's reason", (name, _fault, cause) => {
  const run = runs[name];
  expect(run.code).toBe(1);
  expect(run.result.outputs.probeStatus).toBe("failed");
  expect(run.result.errors).toHaveLength(1);
  expect(run.result.errors[0]).toMatch(cause);
  expect(run.result.errors[0]).toMatch(/Next step: check that the probe reaches the cloud's ARM endpoint directly/);
  expect(run.result.teardown.leftovers).toEqual([]);
});
