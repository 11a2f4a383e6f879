/**
 * Whether the probe's outcome fails `pulumi up`, is only a warning, or passes.
 *
 * Every preview and update re-reads the extension's instance view, also when the
 * extension is unchanged and the probe did not run. Failing on that old result
 * would block every update while an old failure stands, and while the VM is
 * stopped or deallocated: Azure then shows no output of the extension ("extension
 * details are unavailable when the VM is stopped or the agent is unresponsive",
 * the portal's warning, Azure/WALinuxAgent#1371), so the outcome is "unreadable". In "fail" mode, therefore, only a result that this
 * update's own run produced fails the update; an older one is a warning.
 *
 * "This update ran the probe" is decided from the instance view's status time
 * (InstanceViewStatus.time, "The time of the status." in the Compute REST spec),
 * compared with when this program started: a run of this update ends after the
 * program registered the extension. The Windows CSE handler stamps its status
 * (timestampUTC in its status file) when the command finishes; whether Azure
 * always passes that on as `time` is not confirmed (Microsoft's troubleshooting
 * sample shows `"Time": null` on the StdOut/StdErr substatuses), so a view without
 * any time is treated as this update's run. Pulumi's own view (was the extension
 * created, or its forceUpdateTag changed?) is not available to a Node.js program:
 * the engine does not tell the program which step it took.
 */
import type { ProbeOutcome } from "./report";
import type { ProbeFailureMode } from "../settings/validate";

/** The part of an instance view that says whether and when the probe reported. */
export interface TimedInstanceView {
  readonly statuses?: ReadonlyArray<{ readonly code?: string; readonly time?: string | null }>;
  readonly substatuses?: ReadonlyArray<{ readonly code?: string; readonly time?: string | null }>;
}

/** When the probe last reported to Azure, as far as the instance view tells. */
export type LastRun =
  /**
   * The view holds no StdOut substatus, so no run's output is in Azure's view: the
   * VM is stopped or its agent unresponsive. A run of this update would have left
   * one (if the command could not run at all, the extension fails and so does the update).
   */
  | { readonly kind: "none" }
  /** A run's output without a time to go by. */
  | { readonly kind: "untimed" }
  | { readonly kind: "at"; readonly time: Date };

/**
 * How far the local clock may run ahead of Azure's before a run of this update
 * looks older than the update. A status up to this long before the program started
 * still counts as this update's: erring that way fails an update once more on a
 * recent failure instead of waving a fresh one through.
 */
export const CLOCK_SKEW_MS = 2 * 60_000;

export function lastRunOf(view: TimedInstanceView | null | undefined): LastRun {
  // Microsoft's samples spell the code both "ComponentStatus/…" and "componentStatus/…".
  const stdout = view?.substatuses?.find((s) => s.code?.toLowerCase().startsWith("componentstatus/stdout/"));
  if (!stdout) return { kind: "none" };
  // Only the statuses of the run itself: its provisioning state and its output.
  const ofRun = [...(view?.statuses ?? []).filter((s) => s.code?.toLowerCase().startsWith("provisioningstate/")), stdout];
  const times = ofRun.map((s) => (s.time ? Date.parse(s.time) : NaN)).filter((t) => !Number.isNaN(t));
  return times.length === 0 ? { kind: "untimed" } : { kind: "at", time: new Date(Math.max(...times)) };
}

/**
 * True when the run the instance view reports on happened during this update.
 * Without a time to go by, a reported run counts as this update's: letting a
 * failure pass needs evidence that it is old.
 */
export function ranDuringUpdate(lastRun: LastRun, updateStartedAtMs: number, skewMs: number = CLOCK_SKEW_MS): boolean {
  switch (lastRun.kind) {
    case "none":
      return false;
    case "untimed":
      return true;
    case "at":
      return lastRun.time.getTime() >= updateStartedAtMs - skewMs;
  }
}

export type Gate =
  | { readonly action: "pass" }
  | { readonly action: "warn"; readonly message: string }
  | { readonly action: "fail"; readonly message: string };

export interface GateInput {
  readonly outcome: ProbeOutcome;
  readonly failureMode: ProbeFailureMode;
  /** `pulumi preview` (or the preview of `pulumi up`): nothing runs, the read-back sees the last run. */
  readonly preview: boolean;
  readonly lastRun: LastRun;
  /** When this program started (ms since the epoch, local clock); the extension is registered after it. */
  readonly updateStartedAtMs: number;
}

export function gateUpdate(input: GateInput): Gate {
  const { outcome } = input;
  if (outcome.status === "succeeded" || input.failureMode !== "fail") return { action: "pass" };
  const result = `The identity probe ${outcome.status}: ${outcome.cause}\nNext step: ${outcome.nextStep}`;
  // A preview re-reads the last run, which the coming update may well redo.
  if (input.preview) return { action: "warn", message: `The last run of the probe: ${result}` };
  if (!ranDuringUpdate(input.lastRun, input.updateStartedAtMs)) {
    const why =
      input.lastRun.kind === "at"
        ? `its last report is from ${input.lastRun.time.toISOString()}, before this update began`
        : "Azure shows no output of the extension, as while the VM is stopped or deallocated or its " +
          "agent is not responding; start the VM to read the result again";
    return { action: "warn", message: `The probe did not run in this update (${why}), so its last result is only reported: ${result}` };
  }
  return {
    action: "fail",
    message:
      `${result}\n(Every resource was created and is in Pulumi's state. To keep the lab and only report ` +
      `the probe's result, set probeFailureMode to "report".)`,
  };
}
