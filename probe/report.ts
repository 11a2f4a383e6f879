/**
 * Reads the probe's report back out of the extension's instance view.
 *
 * CSE keeps only the last 4,096 bytes of stdout in the `ComponentStatus/StdOut`
 * substatus. The probe writes its report as the last line and keeps it under
 * 3,500 bytes, so the report survives; anything else (a cut-off report, no
 * report, a crash) becomes an "unreadable" outcome with its cause.
 */

export const REPORT_SCHEMA = "identitylab.probe/v1";
const REPORT_MARKER = `{"schema":"${REPORT_SCHEMA}"`;

export interface ProbeError {
  readonly phase: "imds" | "resourceGroup" | "permissions";
  readonly status: number | null;
  readonly code: string | null;
  readonly message: string;
  readonly requestId: string | null;
}

export interface Permission {
  readonly actions: string[];
  readonly notActions: string[];
  readonly dataActions: string[];
  readonly notDataActions: string[];
}

export interface ProbeReport {
  readonly schema: typeof REPORT_SCHEMA;
  readonly ok: boolean;
  readonly resourceGroup: {
    readonly id: string;
    readonly name: string;
    readonly location: string;
    readonly provisioningState: string;
    readonly tags: Record<string, string>;
  } | null;
  readonly identity: {
    readonly objectId: string;
    readonly tenantId: string;
    readonly resourceId: string;
    readonly audience: string;
    readonly expiresOn: string;
  } | null;
  readonly permissions: Permission[] | null;
  readonly attempts: { readonly imds: number; readonly resourceGroup: number; readonly permissions: number };
  readonly elapsedSeconds: number;
  readonly trimmed: string[];
  readonly error: ProbeError | null;
}

export type ProbeOutcome =
  | { readonly status: "succeeded"; readonly report: ProbeReport }
  | { readonly status: "failed"; readonly report: ProbeReport; readonly cause: string; readonly nextStep: string }
  | { readonly status: "unreadable"; readonly report: null; readonly cause: string; readonly nextStep: string };

/** The subset of azure-native's VirtualMachineExtensionInstanceViewResponse that is read. */
export interface ExtensionInstanceView {
  readonly statuses?: ReadonlyArray<{ readonly code?: string; readonly message?: string }>;
  readonly substatuses?: ReadonlyArray<{ readonly code?: string; readonly message?: string }>;
}

const RERUN_STEP = "after fixing it, rerun the probe with `pulumi config set probeRerunToken $(date +%s)` and `pulumi up`.";

function substatus(view: ExtensionInstanceView | undefined, stream: "StdOut" | "StdErr"): string | undefined {
  // Microsoft's samples spell the code both "ComponentStatus/…" and "componentStatus/…".
  const prefix = `componentstatus/${stream.toLowerCase()}/`;
  return view?.substatuses?.find((s) => s.code?.toLowerCase().startsWith(prefix))?.message;
}

/** Finds and validates the report in a CSE stdout tail. */
export function parseReport(stdout: string): ProbeReport | { problem: string } {
  const at = stdout.lastIndexOf(REPORT_MARKER);
  if (at < 0) {
    return stdout.includes(`"schema":"${REPORT_SCHEMA}"`) || stdout.length >= 4000
      ? { problem: "the report was cut off: the extension keeps only the last 4,096 bytes of stdout" }
      : { problem: "the probe wrote no report" };
  }
  // Only the line the report starts; CSE may render line ends as real newlines or as "\n".
  const line = stdout
    .slice(at)
    .split(/\r?\n/)[0]
    .replace(/(\\r)?\\n\s*$/, "")
    .trim();
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { problem: "the report is not valid JSON (cut off or corrupted)" };
  }
  const r = value as Partial<ProbeReport>;
  if (typeof r.ok !== "boolean" || typeof r.attempts !== "object" || r.attempts === null || typeof r.elapsedSeconds !== "number") {
    return { problem: "the report lacks ok, attempts or elapsedSeconds" };
  }
  if (r.ok && (!r.resourceGroup || !r.identity)) {
    return { problem: "the report says ok but lacks resourceGroup or identity" };
  }
  if (!r.ok && !r.error) {
    return { problem: "the report says not ok but gives no error" };
  }
  return { trimmed: [], permissions: null, ...r } as ProbeReport;
}

/** A cause a person can act on, and the next step, for a failed report. */
export function explainFailure(report: ProbeReport, resourceGroupName: string): { cause: string; nextStep: string } {
  const e = report.error!;
  const who = report.identity ? `identity ${report.identity.objectId}` : "the VM's identity";
  const after = `after ${report.elapsedSeconds}s and ${report.attempts[e.phase] ?? 0} attempt(s)`;
  const ref = e.requestId ? ` (x-ms-request-id ${e.requestId})` : "";
  if (e.phase === "imds") {
    if (e.status === 400) {
      return {
        cause: `IMDS refused a token ${after}: ${e.message}${ref}. The VM's system-assigned identity is missing or not ready.`,
        nextStep: `check the VM's identity (az vm identity show); ${RERUN_STEP}`,
      };
    }
    return {
      cause: `IMDS gave no token ${after} (${e.status ?? "no answer"}${e.code ? ` ${e.code}` : ""}: ${e.message}).`,
      nextStep: `IMDS answers only on the VM; check the VM agent and any local proxy, then ${RERUN_STEP}`,
    };
  }
  if (e.status === 403 || e.status === 401) {
    return {
      cause:
        `ARM kept refusing ${who} on resource group ${resourceGroupName} ${after} ` +
        `(${e.status} ${e.code ?? ""})${ref}: either RBAC had not propagated by the deadline, or the role ` +
        `assignment is on another scope, another principal or a role without read.`,
      nextStep:
        `check \`az role assignment list --assignee <principalId> --resource-group ${resourceGroupName} -o table\`; ` +
        `if it shows Reader, raise probeDeadlineSeconds; ${RERUN_STEP}`,
    };
  }
  if (e.status === 404) {
    return {
      cause: `ARM says resource group ${resourceGroupName} does not exist (${e.code ?? "404"})${ref}.`,
      nextStep: `check the subscription and resource group the probe was given; ${RERUN_STEP}`,
    };
  }
  if (e.status === null) {
    return {
      cause: `The VM could not reach ARM ${after}: ${e.message}.`,
      nextStep: `check outbound access (outboundAccess, the NAT gateway, any firewall); ${RERUN_STEP}`,
    };
  }
  return {
    cause: `ARM answered ${e.status} ${e.code ?? ""} in phase ${e.phase} ${after}: ${e.message}${ref}.`,
    nextStep: `look at the extension's output in the portal; ${RERUN_STEP}`,
  };
}

export function readProbeOutcome(view: ExtensionInstanceView | undefined, resourceGroupName: string): ProbeOutcome {
  const stdout = substatus(view, "StdOut");
  if (stdout === undefined) {
    return {
      status: "unreadable",
      report: null,
      cause: "the extension's instance view has no StdOut substatus (did the extension run?)",
      nextStep: `look at the extension in the portal or with az vm extension show --instance-view; ${RERUN_STEP}`,
    };
  }
  const parsed = parseReport(stdout);
  if ("problem" in parsed) {
    const stderr = substatus(view, "StdErr")?.trim();
    return {
      status: "unreadable",
      report: null,
      cause: parsed.problem + (stderr ? `; stderr ends: ${stderr.slice(-300)}` : ""),
      nextStep: `this is a bug in the probe or its embedding; look at the extension's output; ${RERUN_STEP}`,
    };
  }
  if (parsed.ok) return { status: "succeeded", report: parsed };
  return { status: "failed", report: parsed, ...explainFailure(parsed, resourceGroupName) };
}

/** An outcome as the stack reports it: one flat fact per output, null where the probe gave none. */
export interface OutcomeSummary {
  readonly status: ProbeOutcome["status"];
  readonly resourceGroup: ProbeReport["resourceGroup"];
  readonly identityObjectId: string | null;
  readonly permissions: Permission[] | null;
  readonly attempts: ProbeReport["attempts"] | null;
  readonly elapsedSeconds: number | null;
  /** Why the probe did not succeed and what to do next; null when it succeeded. */
  readonly problem: { readonly cause: string; readonly nextStep: string } | null;
}

export function summarizeOutcome(outcome: ProbeOutcome): OutcomeSummary {
  const report: ProbeReport | null = outcome.report;
  return {
    status: outcome.status,
    resourceGroup: report?.resourceGroup ?? null,
    identityObjectId: report?.identity?.objectId ?? null,
    permissions: report?.permissions ?? null,
    attempts: report?.attempts ?? null,
    elapsedSeconds: report?.elapsedSeconds ?? null,
    problem: outcome.status === "succeeded" ? null : { cause: outcome.cause, nextStep: outcome.nextStep },
  };
}
