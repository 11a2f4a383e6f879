import { CLOCK_SKEW_MS, gateUpdate, GateInput, lastRunOf, ranDuringUpdate } from "./gate";
import { ProbeOutcome, parseReport, ProbeReport } from "./report";
import { forbiddenReport, successReport } from "../offline/sampleReports";

const RG = "idlab-rg0badf00d";
const START = Date.parse("2026-12-02T10:00:00Z");
const report = (json: string) => parseReport(json) as ProbeReport;
const succeeded: ProbeOutcome = { status: "succeeded", report: report(successReport(RG)) };
const failed: ProbeOutcome = { status: "failed", report: report(forbiddenReport(RG)), cause: "ARM kept refusing", nextStep: "check RBAC" };
const unreadable: ProbeOutcome = { status: "unreadable", report: null, cause: "no StdOut substatus", nextStep: "look" };

const stdout = (time?: string | null) => ({ code: "ComponentStatus/StdOut/succeeded", time });
const provisioned = (time?: string | null) => ({ code: "ProvisioningState/succeeded", time });

describe("lastRunOf: when the probe last reported, from the instance view", () => {
  test("no instance view, or one without the StdOut substatus (a stopped VM, an unresponsive agent): none", () => {
    expect(lastRunOf(undefined)).toEqual({ kind: "none" });
    expect(lastRunOf({})).toEqual({ kind: "none" });
    // A status Azure stamps now does not make an old run this update's.
    expect(lastRunOf({ statuses: [{ code: "ProvisioningState/Unavailable", time: "2026-12-02T10:05:00Z" }] })).toEqual({ kind: "none" });
  });

  test("the latest time of the run's own statuses", () => {
    const view = { statuses: [provisioned("2026-12-02T10:04:00.5310000+00:00")], substatuses: [stdout(null)] };
    expect(lastRunOf(view)).toEqual({ kind: "at", time: new Date("2026-12-02T10:04:00.531Z") });
    const both = { statuses: [provisioned("2026-12-02T10:04:00Z")], substatuses: [stdout("2026-12-02T10:04:07Z")] };
    expect(lastRunOf(both)).toEqual({ kind: "at", time: new Date("2026-12-02T10:04:07Z") });
  });

  test("statuses other than the run's are not its time", () => {
    const view = { statuses: [{ code: "PowerState/running", time: "2026-12-02T10:09:00Z" }], substatuses: [stdout()] };
    expect(lastRunOf(view)).toEqual({ kind: "untimed" });
  });

  test("times that are null, absent or not dates: untimed", () => {
    expect(lastRunOf({ statuses: [provisioned(null)], substatuses: [stdout(undefined)] })).toEqual({ kind: "untimed" });
    expect(lastRunOf({ statuses: [provisioned("yesterday-ish")], substatuses: [stdout("")] })).toEqual({ kind: "untimed" });
  });

  test("the StdOut code is matched whatever its case", () => {
    expect(lastRunOf({ substatuses: [{ code: "componentStatus/StdOut/succeeded" }] })).toEqual({ kind: "untimed" });
  });
});

describe("ranDuringUpdate", () => {
  const at = (ms: number) => ({ kind: "at" as const, time: new Date(ms) });

  test("a run stamped after the program started, or within the clock allowance before it, is this update's", () => {
    expect(ranDuringUpdate(at(START + 60_000), START)).toBe(true);
    expect(ranDuringUpdate(at(START - CLOCK_SKEW_MS), START)).toBe(true);
    expect(ranDuringUpdate(at(START - CLOCK_SKEW_MS - 1), START)).toBe(false);
    expect(ranDuringUpdate(at(START - 3 * 3600_000), START)).toBe(false);
  });

  test("no report in Azure's view is no run of this update; a report without a time counts as one", () => {
    expect(ranDuringUpdate({ kind: "none" }, START)).toBe(false);
    expect(ranDuringUpdate({ kind: "untimed" }, START)).toBe(true);
  });
});

describe("gateUpdate", () => {
  const fresh = { kind: "at" as const, time: new Date(START + 90_000) };
  const old = { kind: "at" as const, time: new Date(START - 86_400_000) };
  const input = (over: Partial<GateInput>): GateInput => ({
    outcome: failed,
    failureMode: "fail",
    preview: false,
    lastRun: fresh,
    updateStartedAtMs: START,
    ...over,
  });

  test("this update's run failed or is unreadable: fail, with the cause, the next step and the way out", () => {
    for (const outcome of [failed, unreadable]) {
      const gate = gateUpdate(input({ outcome }));
      expect(gate.action).toBe("fail");
      if (gate.action !== "fail") throw new Error("unreachable");
      expect(gate.message).toMatch(
        new RegExp(`^The identity probe ${outcome.status}: ${outcome.cause}\\nNext step: ${outcome.nextStep}\\n`),
      );
      expect(gate.message).toMatch(/set probeFailureMode to "report"/);
    }
    expect(gateUpdate(input({ lastRun: { kind: "untimed" } })).action).toBe("fail");
  });

  test("an older run failed: a warning that dates it", () => {
    expect(gateUpdate(input({ lastRun: old }))).toEqual({
      action: "warn",
      message:
        "The probe did not run in this update (its last report is from 2026-12-01T10:00:00.000Z, before this update began), " +
        "so its last result is only reported: The identity probe failed: ARM kept refusing\nNext step: check RBAC",
    });
  });

  test("nothing in Azure's view (a stopped or deallocated VM): a warning that says to start the VM", () => {
    const gate = gateUpdate(input({ outcome: unreadable, lastRun: { kind: "none" } }));
    expect(gate).toEqual({
      action: "warn",
      message: expect.stringMatching(/stopped or deallocated.*start the VM.*unreadable: no StdOut/s),
    });
  });

  test("preview: a warning about the last run, whenever it ran", () => {
    for (const lastRun of [fresh, old, { kind: "none" as const }, { kind: "untimed" as const }]) {
      const gate = gateUpdate(input({ preview: true, lastRun }));
      expect(gate).toEqual({
        action: "warn",
        message: "The last run of the probe: The identity probe failed: ARM kept refusing\nNext step: check RBAC",
      });
    }
  });

  test("success, or failureMode report: pass, whenever it ran", () => {
    for (const lastRun of [fresh, old, { kind: "none" as const }]) {
      expect(gateUpdate(input({ outcome: succeeded, lastRun }))).toEqual({ action: "pass" });
      expect(gateUpdate(input({ failureMode: "report", lastRun }))).toEqual({ action: "pass" });
      expect(gateUpdate(input({ failureMode: "report", outcome: unreadable, lastRun }))).toEqual({ action: "pass" });
    }
  });
});
