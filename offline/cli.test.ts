import { exitCode, optionsFromArgs, parseFault } from "./cli";
import type { RehearsalResult } from "./rehearse";

describe("npm run rehearse: arguments", () => {
  test("--late-assignment: off by default, on when asked, implied by --mutate no-dependency", () => {
    expect(optionsFromArgs([]).options.lateRoleAssignment).toBe(false);
    expect(optionsFromArgs(["--late-assignment"]).options.lateRoleAssignment).toBe(true);
    expect(optionsFromArgs(["--mutate", "no-dependency"]).options.lateRoleAssignment).toBe(true);
    expect(optionsFromArgs(["--mutate", "wrong-scope"]).options.lateRoleAssignment).toBe(false);
  });

  test("--warm-pwsh: off by default (a pwsh process per VM, as on Azure), on when asked", () => {
    expect(optionsFromArgs([]).options.warmPwsh).toBe(false);
    expect(optionsFromArgs(["--warm-pwsh"]).options.warmPwsh).toBe(true);
  });

  test("times are seconds, passed on in milliseconds; a non-number names its option", () => {
    const { options } = optionsFromArgs(["--rbac-delay", "2", "--assignment-latency", "0.5", "--probe-deadline", "10"]);
    expect(options).toMatchObject({ rbacDelayMs: 2000, roleAssignmentCreateMs: 500, probeDeadlineSeconds: 10 });
    expect(() => optionsFromArgs(["--rbac-delay", "soon"])).toThrow(/--rbac-delay soon: expected a number of seconds/);
  });
});

describe("npm run rehearse: exit code", () => {
  const clean = { leftovers: [], errors: [], sweptWithResourceGroup: [], deleted: [], implicit: [] };
  const result = (failed: boolean, teardown: Partial<RehearsalResult["teardown"]> = {}) =>
    ({ failed, teardown: { ...clean, ...teardown } }) as unknown as RehearsalResult;

  test("0 only when the update succeeded and the teardown left nothing", () => {
    expect(exitCode(result(false))).toBe(0);
    expect(exitCode(result(true))).toBe(1);
    expect(exitCode(result(false, { leftovers: [{ id: "/x", type: "t" }] }))).toBe(1);
    expect(exitCode(result(false, { errors: ["vnet: InUseSubnetCannotBeDeleted"] }))).toBe(1);
    expect(exitCode(result(false, { sweptWithResourceGroup: ["/x"] }))).toBe(1);
  });
});

describe("--fault", () => {
  test.each([
    ["resourceGroup:200", { status: 200, headers: undefined }],
    ["imds:429:retry-after=3", { status: 429, headers: { "Retry-After": "3" } }],
    ["permissions:endless", { endless: true }],
    ["resourceGroup:trickle", { trickle: true }],
    ["imds:malformed", { malformed: true }],
  ])("%s", (spec, fault) => {
    expect(parseFault(spec)).toEqual([{ endpoint: spec.split(":")[0], fault }]);
  });

  test("xN repeats, and an unknown kind names the ones there are", () => {
    expect(parseFault("imds:endlessx3")).toHaveLength(3);
    expect(() => parseFault("imds:flood")).toThrow(/not a status, reset, hang, malformed, endless or trickle/);
  });
});
