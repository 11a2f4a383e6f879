/**
 * The rehearsal as the project's end-to-end test: the real program, deployed
 * into the simulated Azure, with the real probe command run by real pwsh.
 * The mutations prove the whole chain can fail.
 */
import * as path from "node:path";
import type { RehearsalResult } from "../../offline/rehearse";
import { findPwsh } from "../../offline/pwsh";
import { lastLine, runToEnd } from "../../offline/process";

const root = path.join(__dirname, "..", "..");

interface Run {
  code: number | null;
  result: RehearsalResult;
  stderr: string;
}

async function rehearse(args: string[]): Promise<Run> {
  const run = await runToEnd(process.execPath, ["-r", "ts-node/register/transpile-only", "offline/cli.ts", "--json", ...args], {
    cwd: root,
    env: { ...process.env, PWSH: findPwsh() },
  });
  try {
    return { code: run.code, result: JSON.parse(lastLine(run.stdout)), stderr: run.stderr };
  } catch {
    throw new Error(`rehearsal printed no result (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
}

const types = (r: RehearsalResult) => r.criticalPath.map((s) => s.type.split(":").pop());

describe("the real program, rehearsed", () => {
  let plain: Run;
  let troubled: Run;
  let devStack: Run;
  beforeAll(async () => {
    [plain, troubled, devStack] = await Promise.all([
      rehearse([]),
      rehearse([
        "--rbac-delay",
        "3",
        "--fault",
        "imds:410x2",
        "--fault",
        "resourceGroup:429:retry-after=1",
        "--fault",
        "resourceGroup:503",
      ]),
      rehearse(["--stack-config", "Pulumi.dev.yaml", "--config", "rdpSourceCidr=203.0.113.7/32"]),
    ]);
  }, 120_000);

  test("succeeds, with the stack outputs `pulumi up` would print", () => {
    expect(plain.code).toBe(0);
    const o = plain.result.outputs;
    expect(plain.result.errors).toEqual([]);
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
    expect(types(plain.result).slice(-3)).toEqual(["VirtualMachine", "RoleAssignment", "VirtualMachineExtension"]);
    expect(types(plain.result)[0]).toBe("ResourceGroup");
  });

  test("the teardown leaves nothing behind and names what Azure made by itself", () => {
    const t = plain.result.teardown;
    expect(t.errors).toEqual([]);
    expect(t.leftovers).toEqual([]);
    expect(t.sweptWithResourceGroup).toEqual([]);
    expect(t.deleted.some((id) => /\/disks\/.*_OsDisk_/.test(id))).toBe(true);
    expect(t.deleted.some((id) => /\/networkInterfaces\//.test(id))).toBe(true);
    expect(t.deleted.some((id) => /\/roleAssignments\//.test(id))).toBe(true);
    expect(t.implicit.map((i) => i.type)).toEqual(["Microsoft.Network/networkWatchers"]);
  });

  test("rides out RBAC delay, IMDS 410s, ARM 429 with Retry-After and a 503", () => {
    expect(troubled.code).toBe(0);
    expect(troubled.result.outputs.probeStatus).toBe("succeeded");
    const attempts = troubled.result.outputs.probeAttempts as { imds: number; resourceGroup: number };
    expect(attempts.imds).toBe(3);
    // 429 (honouring Retry-After), 503, then 200: the 3 s RBAC delay ran out during the IMDS retries.
    expect(attempts.resourceGroup).toBeGreaterThanOrEqual(3);
  });

  test("Pulumi.dev.yaml with RDP opted in: the VM's public IP goes with the VM", () => {
    expect(devStack.code).toBe(0);
    expect(devStack.result.outputs.resourceGroupName).toMatch(/^idlab-dev-rg/);
    expect(devStack.result.teardown.deleted.some((id) => /\/publicIPAddresses\/idlab-dev-pip$/.test(id))).toBe(true);
    expect(devStack.result.teardown.leftovers).toEqual([]);
  });
});

describe("mutations: each misconfiguration fails the update with the probe's reason", () => {
  const quick = ["--probe-deadline", "5"];
  const cases: Array<[string, string[], RegExp]> = [
    ["wrong-scope", quick, /ARM kept refusing identity/],
    ["wrong-principal", quick, /ARM kept refusing identity/],
    ["role-without-read", quick, /ARM kept refusing identity/],
    // Timing: the role assignment takes 15 s to create and 5 s more to take effect. With the
    // dependency the probe starts after the first 15 s; without it, it starts at once and its
    // 12 s deadline runs out before the assignment works.
    ["no-dependency", ["--assignment-latency", "15", "--rbac-delay", "5", "--probe-deadline", "12"], /ARM kept refusing identity/],
  ];
  let runs: Run[];
  let control: Run;
  beforeAll(async () => {
    [control, ...runs] = await Promise.all([
      rehearse(["--assignment-latency", "15", "--rbac-delay", "5", "--probe-deadline", "12"]),
      ...cases.map(([m, args]) => rehearse(["--mutate", m, ...args])),
    ]);
  }, 180_000);

  test.each(cases.map((c, i) => [c[0], i] as const))("%s", (_m, i) => {
    const run = runs[i];
    expect(run.code).toBe(1);
    expect(run.result.failed).toBe(true);
    expect(run.result.outputs.probeStatus).toBe("failed");
    expect(run.result.errors).toHaveLength(1);
    expect(run.result.errors[0]).toMatch(/^The identity probe failed: /);
    expect(run.result.errors[0]).toMatch(cases[i][2]);
    expect(run.result.errors[0]).toMatch(/Next step: check `az role assignment list/);
    // Still torn down cleanly: a failed probe leaves consistent state.
    expect(run.result.teardown.leftovers).toEqual([]);
  });

  test("control: the real program under the same timing as no-dependency succeeds", () => {
    expect(control.code).toBe(0);
    expect(control.result.outputs.probeStatus).toBe("succeeded");
  });
});

test("bad config: nothing is created, and the error names the key", async () => {
  const run = await rehearse(["--config", "rdpSourceCidr=0.0.0.0/0"]);
  expect(run.code).toBe(1);
  expect(run.result.operations).toEqual([]);
  expect(run.result.errors.join("\n")).toMatch(/identity-lab:rdpSourceCidr: "0.0.0.0\/0" would open RDP to the whole Internet/);
}, 60_000);

test.each([
  ["resourceGroup:200", /ARM answered 200 in phase resourceGroup, but not with what was asked for/],
  ["permissions:200", /ARM answered 200 in phase permissions, but not with what was asked for/],
])(
  "a bogus 200 (--fault %s) is no success: the update fails with the probe's reason",
  async (fault, cause) => {
    const run = await rehearse(["--fault", fault]);
    expect(run.code).toBe(1);
    expect(run.result.outputs.probeStatus).toBe("failed");
    expect(run.result.errors).toHaveLength(1);
    expect(run.result.errors[0]).toMatch(cause);
    expect(run.result.errors[0]).toMatch(/Next step: check that the probe reaches the cloud's ARM endpoint directly/);
    expect(run.result.teardown.leftovers).toEqual([]);
  },
  120_000,
);
