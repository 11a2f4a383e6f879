/**
 * Reads the probe's report back out of the extension's instance view.
 *
 * CSE keeps only the last 4,096 bytes of stdout: on Windows in the `ComponentStatus/StdOut`
 * substatus, on Linux in the status message (see linuxStatusStreams). The probe writes its report as the last line and keeps it under
 * 3,500 bytes, so the report survives; anything else (a cut-off report, no
 * report, a crash) becomes an "unreadable" outcome with its cause.
 */

export const REPORT_SCHEMA = "identitylab.probe/v1";

/**
 * What looks like a token: a JWS/JWT (three base64url segments) or the start of one (every JOSE header is a
 * JSON object, so its base64url begins "eyJ"). The probe scrubs the same pattern; this is the second line.
 */
const TOKEN_LIKE = /eyJ[\w.-]*|[\w-]{16,}\.[\w-]{16,}\.[\w-]{16,}/g;

/** Replaces token-like text with "[redacted]". */
export function scrubTokens(text: string): string {
  return text.replace(TOKEN_LIKE, "[redacted]");
}

function scrubDeep(value: unknown, keep: (path: string) => boolean, path = ""): unknown {
  if (typeof value === "string") return keep(path) ? value : scrubTokens(value);
  if (Array.isArray(value)) return value.map((v, i) => scrubDeep(v, keep, `${path}[${i}]`));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [scrubTokens(k), scrubDeep(v, keep, path ? `${path}.${k}` : k)]));
  }
  return value;
}
const REPORT_MARKER = `{"schema":"${REPORT_SCHEMA}"`;

export interface ProbeError {
  /** Tutorial: imds | resourceGroup | permissions. Grants mode adds read | ra | rd | data | grants, and the loader userData. */
  readonly phase: "imds" | "resourceGroup" | "permissions" | "read" | "ra" | "rd" | "data" | "grants" | "userData";
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
  /** Grants mode only (setups-design §3): one compact entry per grant, in -Grants order. */
  readonly grants?: GrantReport[];
}

/** One grant's evidence as the probe saw it (compact keys keep many grants inside CSE's 4,096-byte window). */
export interface GrantReport {
  /** The grant's key, as sent in -Grants. */
  readonly n: string;
  /** Object id in the token IMDS returned for this grant's identity; null without a token. */
  readonly oid: string | null;
  /** HTTP status of the ARM read of the scope; null when not reached. */
  readonly read: number | null;
  /** HTTP status of the data-plane proof (List Blobs) for k=blob; null otherwise or when not reached. */
  readonly data: number | null;
  /** Effective permission blocks at the scope: [actions, notActions, dataActions, notDataActions]; null unless read. */
  readonly perm: Array<[string[], string[], string[], string[]]> | null;
  /** A cause code from probe/contract.md when this grant lacks evidence; null when it has it. */
  readonly cause: string | null;
  /** HTTP requests this grant took. */
  readonly att: number;
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

export function substatus(view: ExtensionInstanceView | undefined, stream: "StdOut" | "StdErr"): string | undefined {
  // Microsoft's samples spell the code both "ComponentStatus/…" and "componentStatus/…".
  const prefix = `componentstatus/${stream.toLowerCase()}/`;
  return view?.substatuses?.find((s) => s.code?.toLowerCase().startsWith(prefix))?.message;
}

/**
 * The Linux Custom Script extension (Microsoft.Azure.Extensions/CustomScript 2.1) has no StdOut/StdErr substatuses:
 * its one status message is `Enable succeeded: \n[stdout]\n<tail>\n[stderr]\n<tail>` (or `Enable failed: <error>`
 * before the same two tails), each tail the last 4 KB of its stream. Sources: Azure/custom-script-extension-linux
 * 56a1e6f (2.1.19) main/cmds.go (`maxTailLen = 4 * 1024`, `fmt.Sprintf("\n[stdout]\n%s\n[stderr]\n%s", ...)`),
 * main/status.go `statusMsg` (`Enable` + ` succeeded`/` failed` + `: ` + message), main/main.go (a failure wraps the
 * same tails into the error). The stdout tail is the probe's (a report never holds `\n[stderr]\n`); stderr may hold
 * anything, so the first marker after `[stdout]` splits them.
 */
export function linuxStatusStreams(view: ExtensionInstanceView | undefined): { stdout: string; stderr: string } | undefined {
  for (const s of view?.statuses ?? []) {
    const m = s.message ?? "";
    const out = m.indexOf("\n[stdout]\n");
    if (!/^Enable (succeeded|failed|in progress)/.test(m) || out < 0) continue;
    const rest = m.slice(out + "\n[stdout]\n".length);
    const err = rest.indexOf("\n[stderr]\n");
    return err < 0 ? { stdout: rest, stderr: "" } : { stdout: rest.slice(0, err), stderr: rest.slice(err + "\n[stderr]\n".length) };
  }
  return undefined;
}

/** The probe's stdout and stderr tails, from the Windows substatuses or the Linux status message. */
export function probeStreams(view: ExtensionInstanceView | undefined): { stdout: string; stderr: string } | undefined {
  const stdout = substatus(view, "StdOut");
  if (stdout !== undefined) return { stdout, stderr: substatus(view, "StdErr") ?? "" };
  return linuxStatusStreams(view);
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
  // Grants mode (setups-design §3) skips the group read: its evidence is per grant, judged in probe/grants.ts.
  const grantsMode = Array.isArray(r.grants);
  if (r.ok && !grantsMode && (!r.resourceGroup || !r.identity)) {
    return { problem: "the report says ok but lacks resourceGroup or identity" };
  }
  if (!r.ok && !grantsMode && !r.error) {
    return { problem: "the report says not ok but gives no error" };
  }
  // The group's id and name are checked against the target instead: a name may legitimately look like anything.
  const keep = (p: string) => p === "resourceGroup.id" || p === "resourceGroup.name";
  return scrubDeep({ trimmed: [], permissions: null, ...r }, keep) as ProbeReport;
}

/** Which resource group the probe was sent to read. */
export interface ProbeTarget {
  readonly resourceGroupName: string;
  /** When known, the group's id must name this subscription too. */
  readonly subscriptionId?: string;
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

const PERMISSION_FIELDS = ["actions", "notActions", "dataActions", "notDataActions"] as const;

/**
 * The verdict's second line of defence: a report that says ok counts only when its group is the target and its
 * permissions are well formed. Returns what is wrong, or null.
 */
export function verifySuccess(report: ProbeReport, target: ProbeTarget): { phase: ProbeError["phase"]; problem: string } | null {
  const g = report.resourceGroup as Record<string, unknown> | null;
  const name = target.resourceGroupName.toLowerCase();
  const sub = target.subscriptionId?.toLowerCase();
  const id = typeof g?.id === "string" ? g.id.toLowerCase() : "";
  const m = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)$/.exec(id);
  if (!m || m[2] !== name || (sub !== undefined && m[1] !== sub)) {
    return {
      phase: "resourceGroup",
      problem: `the report's resource group id is not ${sub ? `/subscriptions/${sub}` : "…"}/resourceGroups/${target.resourceGroupName}`,
    };
  }
  if (typeof g?.name !== "string" || g.name.toLowerCase() !== name || typeof g.provisioningState !== "string" || !g.provisioningState) {
    return { phase: "resourceGroup", problem: "the report's resource group lacks a matching name or a provisioningState" };
  }
  const perms = report.permissions as unknown;
  if (!Array.isArray(perms)) return { phase: "permissions", problem: "the report's permissions are not a list" };
  for (const p of perms as unknown[]) {
    if (p === null || typeof p !== "object" || !PERMISSION_FIELDS.every((f) => isStringList((p as Record<string, unknown>)[f]))) {
      return { phase: "permissions", problem: `a permissions entry lacks one of ${PERMISSION_FIELDS.join(", ")} as a list of strings` };
    }
  }
  return null;
}

/**
 * A cause a person can act on, and the next step, for a failed report: probe/contract.md's cause table, row by
 * row, from what the probe saw (phase, status, code), never from a guess.
 */
export function explainFailure(report: ProbeReport, resourceGroupName: string): { cause: string; nextStep: string } {
  const e = report.error!;
  const who = report.identity?.objectId ? `identity ${report.identity.objectId}` : "the VM's identity";
  const after = `after ${report.elapsedSeconds}s and ${(report.attempts as Record<string, number>)[e.phase] ?? 0} attempt(s)`;
  const ref = e.requestId ? ` (x-ms-request-id ${e.requestId})` : "";
  const said = `${e.status ?? "no answer"}${e.code ? ` ${e.code}` : ""}: ${e.message}`;
  const service = e.phase === "imds" ? "IMDS" : "ARM";
  const proxyStep =
    `something between the VM and ${service} (a proxy, a TLS-inspecting firewall) may be answering in its place; ` +
    `check the VM's proxy and firewall settings, then ${RERUN_STEP}`;
  if (e.phase === "userData") {
    // The Windows loader's own report (probe/contract.md "Windows delivery of grants mode").
    return {
      cause:
        e.code === "UserDataInvalid"
          ? `The VM's userData is not the probe the program delivered (${e.message}).`
          : `The probe's loader could not fetch the VM's userData from IMDS after ${report.elapsedSeconds}s and ${report.attempts.imds} attempt(s) (${said}).`,
      nextStep: `check that the VM's userData is set (az vm show --query userData), the guest agent and the route to 169.254.169.254; then ${RERUN_STEP}`,
    };
  }
  if (e.code === "InvalidGrants") {
    return {
      cause: `The probe was given grants it cannot read (${e.message}).`,
      nextStep: `this is a bug in the program's grants rendering; ${RERUN_STEP}`,
    };
  }
  if (e.code === "ProbeError") {
    return { cause: `The probe itself failed in phase ${e.phase} (${e.message}).`, nextStep: `this is a bug in the probe; ${RERUN_STEP}` };
  }
  if (e.status === 429) {
    return {
      cause:
        `${service} throttled the probe (429${e.code ? ` ${e.code}` : ""}) and asked it to wait past its deadline ` +
        `${after}${ref}: ${e.message}`,
      nextStep: `wait until the throttling window (the answer's Retry-After) has passed, then ${RERUN_STEP}`,
    };
  }
  if (e.code === "ResponseTooLarge" || e.code === "SlowResponse") {
    const what = e.code === "ResponseTooLarge" ? "was larger than the probe reads" : "did not arrive in time";
    return { cause: `${service} answered ${e.status} but its body ${what} ${after} (${e.message}).`, nextStep: proxyStep };
  }
  if (e.code === "MalformedResponse") {
    return { cause: `${service} answered 200 with a body that is not readable JSON ${after}${ref}.`, nextStep: proxyStep };
  }
  if (e.phase === "imds") {
    if (e.code === "NoAccessToken") {
      return {
        cause: `IMDS answered 200 without an access_token ${after}.`,
        nextStep: `restart the VM's guest agent or the VM; ${proxyStep}`,
      };
    }
    if (e.code === "OpaqueToken") {
      return {
        cause: `IMDS's access token is not a JWT ${after}, so the probe cannot tell which identity it stands for.`,
        nextStep: `check that the lab's cloud setting names this subscription's cloud; ${proxyStep}`,
      };
    }
    if (e.status === 400 && /AADSTS500011|invalid_resource/i.test(`${e.code} ${e.message}`)) {
      return {
        cause: `Microsoft Entra ID does not know the ARM endpoint the probe asked a token for (${said}): the lab's cloud does not match the tenant's.`,
        nextStep: `set the stack's cloud setting to the Azure cloud this subscription is in; ${RERUN_STEP}`,
      };
    }
    if (e.status === 400) {
      return {
        cause: `IMDS refused a token ${after}: ${e.message}. The VM's system-assigned identity is missing or not ready.`,
        nextStep: `check the VM's identity (az vm identity show); ${RERUN_STEP}`,
      };
    }
    if (e.status === null) {
      return {
        cause: `The probe could not reach IMDS ${after} (${said}).`,
        nextStep:
          `IMDS (169.254.169.254) answers only on the VM and never through a proxy; check the VM agent, the guest ` +
          `firewall and the route to 169.254.169.254, then ${RERUN_STEP}`,
      };
    }
    return { cause: `IMDS gave no token ${after} (${said}).`, nextStep: `check the VM agent (or restart the VM), then ${RERUN_STEP}` };
  }
  if (e.code === "UnexpectedResponse") {
    return {
      cause:
        `ARM answered 200 in phase ${e.phase}, but not with what was asked for (${e.message})${ref}; a success ` +
        `needs resource group ${resourceGroupName} itself and a well-formed permissions list.`,
      nextStep: `check that the probe reaches the cloud's ARM endpoint directly; ${proxyStep}`,
    };
  }
  if (e.code === "ClaimsChallenge") {
    return {
      cause:
        `ARM answered with a claims challenge (continuous access evaluation, insufficient_claims) ${after}${ref}: ` +
        `a Conditional Access policy or a revocation event rejects ${who}'s token, and IMDS cannot mint one with more claims.`,
      nextStep: `check Conditional Access policies and the sign-in logs for the managed identity; ${RERUN_STEP}`,
    };
  }
  if (e.status === 403 || e.status === 401) {
    return {
      cause:
        `ARM kept refusing ${who} on resource group ${resourceGroupName} ${after}, the whole deadline ` +
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
  if (e.status >= 500) {
    return {
      cause: `ARM kept failing (${said}) in phase ${e.phase} ${after}${ref}: a fault on Azure's side that outlasted the probe's retry budget.`,
      nextStep: `check Azure status and the subscription's Service Health, then ${RERUN_STEP}`,
    };
  }
  return {
    cause: `ARM answered ${said} in phase ${e.phase} ${after}${ref}; waiting would not change it.`,
    nextStep: `fix what ARM's answer names, then ${RERUN_STEP}`,
  };
}

/**
 * The probe's outcome from the extension's instance view. `subscriptionId`, when given, is checked against the
 * reported group's id too.
 */
export function readProbeOutcome(
  view: ExtensionInstanceView | undefined,
  resourceGroupName: string,
  subscriptionId?: string,
): ProbeOutcome {
  const streams = probeStreams(view);
  if (streams === undefined) {
    return {
      status: "unreadable",
      report: null,
      cause: "the extension's instance view has no StdOut substatus and no Linux [stdout] status message (did the extension run?)",
      nextStep: `look at the extension in the portal or with az vm extension show --instance-view; ${RERUN_STEP}`,
    };
  }
  const parsed = parseReport(streams.stdout);
  if ("problem" in parsed) {
    const stderr = scrubTokens(streams.stderr.trim());
    return {
      status: "unreadable",
      report: null,
      cause: parsed.problem + (stderr ? `; stderr ends: ${stderr.slice(-300)}` : ""),
      nextStep: `this is a bug in the probe or its embedding; look at the extension's output; ${RERUN_STEP}`,
    };
  }
  let report = parsed;
  if (report.ok) {
    const wrong = verifySuccess(report, { resourceGroupName, subscriptionId });
    if (!wrong) return { status: "succeeded", report };
    // Whatever its ok field says, a report without evidence is a failure, told as the probe would have told it.
    report = {
      ...report,
      ok: false,
      error: { phase: wrong.phase, status: 200, code: "UnexpectedResponse", message: wrong.problem, requestId: null },
    };
  }
  const { cause, nextStep } = explainFailure(report, resourceGroupName);
  return { status: "failed", report, cause: scrubTokens(cause), nextStep: scrubTokens(nextStep) };
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
