/**
 * Grants mode's program side (setups-design §3), pure: what the probe is asked to prove for each grant
 * (GrantProbeSpec), and the judge over what it reported (GrantReport): per grant proven, missing or
 * over-privileged, comparing the role's permissions with the effective ones (probe/permissions.ts).
 */
import { BUILT_IN_ROLE_DEFINITIONS, type PermissionBlock } from "../components/roles";
import type { AzureCloud, GrantIdentity, GrantScope, GrantSettings, SetupSettings } from "../settings/schema";
import type { GrantProbeSpec } from "./command";
import { comparePermissions, patternsIntersect, toPermissionBlock } from "./permissions";
import { parseReport, probeStreams, type ExtensionInstanceView, type GrantReport, type ProbeOutcome } from "./report";

/**
 * The most grants one setup's probe proves. Each grant's worst-case entry in the report must still fit the
 * report's 3,500-byte cap inside the 4,096 bytes CSE keeps (probe/contract.md); tests/probeGrants.ts measures the worst case and guards it.
 */
export const MAX_GRANTS_PER_SETUP = 3;

/**
 * api-version of the probe's GET of a scope, by resource type (lower case, provider namespace and type path).
 * Each is the version @pulumi/azure-native 3.x deploys that type with (its `<resource>.d.ts`: "Uses Azure REST
 * API version …"), so the probe reads with a version the program knows to exist; the resource group's is the
 * tutorial probe's own (probe/contract.md), and the subscription's is Subscriptions - Get 2022-12-01
 * (https://learn.microsoft.com/rest/api/resources/subscriptions/get). Other types need a grant's `apiVersion`.
 */
export const READ_API_VERSIONS: Readonly<Record<string, string>> = Object.freeze({
  subscription: "2022-12-01",
  resourcegroup: "2022-09-01",
  "microsoft.storage/storageaccounts": "2024-01-01",
  "microsoft.storage/storageaccounts/blobservices/containers": "2024-01-01",
  "microsoft.keyvault/vaults": "2024-11-01",
  "microsoft.managedidentity/userassignedidentities": "2023-01-31",
  "microsoft.compute/virtualmachines": "2024-11-01",
  "microsoft.operationalinsights/workspaces": "2023-09-01",
  "microsoft.network/virtualnetworks": "2024-05-01",
});

/** The type of an ARM id: "subscription", "resourcegroup", or "<namespace>/<type>[/<child type>…]" in lower case. */
export function armTypeOf(id: string): string | undefined {
  const parts = id.replace(/\/+$/, "").split("/").slice(1);
  if (parts.length < 2 || parts[0].toLowerCase() !== "subscriptions") return undefined;
  if (parts.length === 2) return "subscription";
  if (parts[2].toLowerCase() !== "resourcegroups" || parts.length < 4) return undefined;
  if (parts.length === 4) return "resourcegroup";
  if (parts[4].toLowerCase() !== "providers" || parts.length < 8 || (parts.length - 6) % 2 !== 0) return undefined;
  const types = [parts[5]];
  for (let i = 6; i < parts.length; i += 2) types.push(parts[i]);
  return types.join("/").toLowerCase();
}

/** The api-version the probe reads this ARM id with, if READ_API_VERSIONS knows its type. */
export function readApiVersionFor(id: string): string | undefined {
  const type = armTypeOf(id);
  return type === undefined ? undefined : READ_API_VERSIONS[type];
}

/** Blob endpoints by cloud (Microsoft Learn, "Storage account overview", endpoints; national clouds' suffixes). */
export const BLOB_SUFFIXES: Readonly<Record<AzureCloud, string>> = {
  public: "blob.core.windows.net",
  usgovernment: "blob.core.usgovcloudapi.net",
  china: "blob.core.chinacloudapi.cn",
};

/** The stack's facts a grant's scope and proof are resolved against, once they are known. */
export interface GrantContext {
  readonly subscriptionId: string;
  readonly resourceGroupId: string;
  /** The stack's storage account, when some grant's scope is storageAccount. */
  readonly storageAccountId?: string;
  readonly storageAccountName?: string;
  /** The stack's blob container the probe lists ("probe"). */
  readonly containerName?: string;
  readonly cloud: AzureCloud;
  /** client_id of the setup's user-assigned identity, when it has one. */
  readonly userAssignedClientId?: string;
}

/** The ARM id a grant's scope stands for. */
export function resolveScope(
  scope: GrantScope,
  ctx: Pick<GrantContext, "subscriptionId" | "resourceGroupId" | "storageAccountId">,
): string {
  switch (scope.kind) {
    case "resourceGroup":
      return ctx.resourceGroupId;
    case "subscription":
      return `/subscriptions/${ctx.subscriptionId}`;
    case "storageAccount":
      if (!ctx.storageAccountId) throw new Error("a storageAccount scope needs the stack's storage account");
      return ctx.storageAccountId;
    case "resource":
      return scope.id;
  }
}

const BLOB_READ = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read";

/** The role's permission block, when the maintained table knows it (a custom role's GUID: null). */
export function roleBlock(guid: string): PermissionBlock | null {
  return BUILT_IN_ROLE_DEFINITIONS.find((r) => r.guid === guid.toLowerCase()) ?? null;
}

/** Whether the role can list blobs, so that List Blobs on a container is part of its proof. */
function readsBlobs(guid: string): boolean {
  const block = roleBlock(guid);
  return block !== null && block.dataActions.some((d) => patternsIntersect(d, BLOB_READ));
}

/** The container a blob proof lists: the stack's own for storageAccount, or the one a container id names. */
function containerUrl(grant: GrantSettings, scopeId: string, ctx: GrantContext): string {
  const suffix = BLOB_SUFFIXES[ctx.cloud];
  if (grant.scope.kind === "storageAccount" && ctx.storageAccountName && ctx.containerName) {
    return `https://${ctx.storageAccountName}.${suffix}/${ctx.containerName}`;
  }
  const m = /\/providers\/Microsoft\.Storage\/storageAccounts\/([^/]+)\/blobServices\/default\/containers\/([^/]+)$/i.exec(scopeId);
  return m ? `https://${m[1].toLowerCase()}.${suffix}/${m[2]}` : "";
}

/** Each grant's probe spec, in grant order (`n` = "g<index>"); [] for the tutorial's shape (tutorial mode). */
export function buildGrantSpecs(setup: SetupSettings, ctx: GrantContext, tutorial: boolean): GrantProbeSpec[] {
  if (tutorial) return [];
  return setup.grants.map((g, i) => {
    const s = resolveScope(g.scope, ctx);
    const b = readsBlobs(g.roleDefinitionGuid) ? containerUrl(g, s, ctx) : "";
    const u = g.identity === "userAssigned" ? (ctx.userAssignedClientId ?? "") : "";
    return { n: `g${i}`, s, u, k: b === "" ? "arm" : "blob", v: g.apiVersion || (readApiVersionFor(s) ?? ""), b };
  });
}

/** What one grant was meant to give, as the judge compares it. */
export interface GrantIntent {
  readonly n: string;
  /** The role's name, or its GUID for a role the table does not know. */
  readonly role: string;
  readonly roleDefinitionGuid: string;
  /** The scope's ARM id. */
  readonly scope: string;
  readonly identity: GrantIdentity;
  /** Object id of the identity the grant is for: the token's `oid` must be this. */
  readonly principalId: string;
  /** Whether List Blobs is part of the proof (spec k=blob). */
  readonly blob: boolean;
}

export type GrantVerdictKind = "proven" | "missing" | "overPrivileged";

export interface GrantVerdict {
  readonly n: string;
  readonly role: string;
  readonly scope: string;
  readonly identity: GrantIdentity;
  readonly verdict: GrantVerdictKind;
  /** What the role grants that the identity does not have (or the missing evidence). */
  readonly missing: string[];
  /** What the identity has at this scope beyond its intended roles that cover it. */
  readonly extra: string[];
  /** Why the verdict is not "proven", for a person; null when it is. */
  readonly problem: string | null;
}

/** Is `outer` the same scope as `inner` or one of its ancestors? ARM ids compare case-insensitively. */
export function scopeCovers(outer: string, inner: string): boolean {
  const a = outer.toLowerCase().replace(/\/+$/, "");
  const b = inner.toLowerCase().replace(/\/+$/, "");
  return b === a || b.startsWith(`${a}/`);
}

const ok = (status: number | null) => status !== null && status >= 200 && status < 300;

function isBlocks(perm: unknown): perm is Array<[string[], string[], string[], string[]]> {
  const list = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === "string");
  return Array.isArray(perm) && perm.every((b) => Array.isArray(b) && b.length === 4 && b.every(list));
}

/**
 * One grant's verdict from its evidence. `intents` are all of the setup's grants: over-privilege is what the
 * effective blocks grant beyond the union of this identity's intended roles whose scope covers this one.
 */
export function judgeGrant(intent: GrantIntent, report: GrantReport | undefined, intents: readonly GrantIntent[]): GrantVerdict {
  const base = { n: intent.n, role: intent.role, scope: intent.scope, identity: intent.identity };
  const missing = (problem: string, what: string[] = []): GrantVerdict => ({
    ...base,
    verdict: "missing",
    missing: what,
    extra: [],
    problem,
  });
  if (!report) return missing("the probe reported nothing for this grant");
  if (report.cause) return missing(`no evidence: ${report.cause}${report.read !== null ? ` (read ${report.read})` : ""}`);
  if (report.oid === null) return missing("no evidence: the probe got no token for this identity");
  if (report.oid.toLowerCase() !== intent.principalId.toLowerCase()) {
    return missing(
      `the token is for object id ${report.oid}, not the intended ${intent.identity} identity ${intent.principalId} ` +
        `(IMDS answered with another identity's token)`,
    );
  }
  if (!ok(report.read)) return missing(`the ARM read of the scope answered ${report.read ?? "nothing"}`);
  if (intent.blob && !ok(report.data)) return missing(`List Blobs on the container answered ${report.data ?? "nothing"}`);
  if (!isBlocks(report.perm)) return missing("the report holds no well-formed effective permissions");

  const effective = report.perm.map(([actions, notActions, dataActions, notDataActions]) =>
    toPermissionBlock({ actions, notActions, dataActions, notDataActions }),
  );
  const own = roleBlock(intent.roleDefinitionGuid);
  // A custom role's permissions are not in the table: its evidence proves it, nothing can be compared.
  if (own === null) return { ...base, verdict: "proven", missing: [], extra: [], problem: null };
  const gap = comparePermissions([own], effective).missing;
  if (gap.length > 0) return missing(`the identity lacks ${gap.join(", ")} of ${intent.role} at this scope`, gap);

  // At subscription scope no permissions operation exists: the probe reports the role definitions of the
  // identity's assignments (assignedTo), which include narrower ones, so every intended role of the identity counts.
  const atSubscription = armTypeOf(intent.scope) === "subscription";
  const covering = intents.filter(
    (i) =>
      i.identity === intent.identity &&
      i.principalId.toLowerCase() === intent.principalId.toLowerCase() &&
      (atSubscription || scopeCovers(i.scope, intent.scope)),
  );
  const blocks = covering.map((i) => roleBlock(i.roleDefinitionGuid));
  if (blocks.some((b) => b === null)) return { ...base, verdict: "proven", missing: [], extra: [], problem: null };
  const extra = comparePermissions(blocks as PermissionBlock[], effective).extra;
  if (extra.length > 0) {
    return {
      ...base,
      verdict: "overPrivileged",
      missing: [],
      extra,
      problem: `the identity has more than ${covering.map((i) => i.role).join(" + ")} at this scope: ${extra.join(", ")} (an inherited or extra role assignment)`,
    };
  }
  return { ...base, verdict: "proven", missing: [], extra: [], problem: null };
}

/** Every grant's verdict, in intent order; reports are matched by `n`. */
export function judgeGrants(intents: readonly GrantIntent[], reports: readonly GrantReport[] | undefined): GrantVerdict[] {
  return intents.map((i) =>
    judgeGrant(
      i,
      (reports ?? []).find((r) => r.n === i.n),
      intents,
    ),
  );
}

/**
 * The tutorial's one grant judged from a tutorial-mode outcome: its report's token and permissions stand for
 * the grant's evidence (the resource group read is its ARM read).
 */
export function judgeTutorial(intent: GrantIntent, outcome: ProbeOutcome): GrantVerdict {
  if (outcome.status !== "succeeded") {
    return {
      n: intent.n,
      role: intent.role,
      scope: intent.scope,
      identity: intent.identity,
      verdict: "missing",
      missing: [],
      extra: [],
      problem: outcome.cause,
    };
  }
  const r = outcome.report;
  const perm = (r.permissions ?? []).map(
    (p) => [p.actions, p.notActions ?? [], p.dataActions ?? [], p.notDataActions ?? []] as [string[], string[], string[], string[]],
  );
  return judgeGrant(intent, { n: intent.n, oid: r.identity?.objectId ?? null, read: 200, data: null, perm, cause: null, att: 0 }, [intent]);
}

/** A setup's probe result once judged: the outcome as the gate sees it, and each grant's verdict. */
export interface JudgedOutcome {
  /** "failed" when a grant is missing, or over-privileged with failOnOverPrivilege; else the probe's own outcome. */
  readonly outcome: ProbeOutcome;
  readonly verdicts: GrantVerdict[];
  /** A warning to print: over-privilege that does not fail the update; null when there is none. */
  readonly warning: string | null;
}

const RERUN = "after fixing it, rerun the probe with `pulumi config set probeRerunToken $(date +%s)` and `pulumi up`.";

/**
 * The verdicts folded into the outcome: a missing grant fails it (as a failed probe does); over-privilege
 * fails it only with failOnOverPrivilege, and is otherwise a warning. An unreadable outcome stays as it is.
 */
export function foldVerdicts(outcome: ProbeOutcome, verdicts: GrantVerdict[], failOnOverPrivilege: boolean): JudgedOutcome {
  if (outcome.status === "unreadable") return { outcome, verdicts, warning: null };
  const missing = verdicts.filter((v) => v.verdict === "missing");
  const over = verdicts.filter((v) => v.verdict === "overPrivileged");
  const describe = (list: GrantVerdict[]) => list.map((v) => `${v.n} (${v.role} on ${v.scope} for ${v.identity}): ${v.problem}`).join("; ");
  if (missing.length > 0 && outcome.status === "succeeded") {
    return {
      outcome: {
        status: "failed",
        report: outcome.report,
        cause: `Not every grant is proven: ${describe(missing)}.`,
        nextStep: `check the role assignments of the identity (az role assignment list --assignee <principalId> --all -o table); ${RERUN}`,
      },
      verdicts,
      warning: over.length > 0 ? `Over-privileged: ${describe(over)}.` : null,
    };
  }
  if (over.length === 0 || outcome.status !== "succeeded") return { outcome, verdicts, warning: null };
  const message = `Over-privileged: ${describe(over)}.`;
  if (!failOnOverPrivilege) return { outcome, verdicts, warning: `${message} Set failOnOverPrivilege to true to fail the update on it.` };
  return {
    outcome: {
      status: "failed",
      report: outcome.report,
      cause: message,
      nextStep: `remove the extra role assignments (az role assignment list --assignee <principalId> --all -o table), or set failOnOverPrivilege to false to only report it; ${RERUN}`,
    },
    verdicts,
    warning: null,
  };
}

/**
 * A grants-mode run's outcome from the extension's instance view: unreadable as in tutorial mode
 * (report.ts), otherwise judged grant by grant; the report's own `ok` must agree with the verdicts.
 */
export function readGrantsOutcome(
  view: ExtensionInstanceView | undefined,
  intents: readonly GrantIntent[],
  failOnOverPrivilege: boolean,
): JudgedOutcome {
  // Windows substatuses or the Linux status message: one parser for both OSes.
  const stdout = probeStreams(view)?.stdout;
  const unreadable = (cause: string): JudgedOutcome => ({
    outcome: {
      status: "unreadable",
      report: null,
      cause,
      nextStep: `look at the extension's output (az vm extension show --instance-view); ${RERUN}`,
    },
    verdicts: intents.map((i) => ({
      n: i.n,
      role: i.role,
      scope: i.scope,
      identity: i.identity,
      verdict: "missing",
      missing: [],
      extra: [],
      problem: cause,
    })),
    warning: null,
  });
  if (stdout === undefined) return unreadable("the extension's instance view has no StdOut substatus (did the extension run?)");
  const parsed = parseReport(stdout);
  if ("problem" in parsed) return unreadable(parsed.problem);
  if (!Array.isArray(parsed.grants)) return unreadable("the probe answered in tutorial mode, not with a grants report");
  const verdicts = judgeGrants(intents, parsed.grants);
  const folded = foldVerdicts({ status: "succeeded", report: parsed }, verdicts, failOnOverPrivilege);
  if (folded.outcome.status === "succeeded" && !parsed.ok) {
    return {
      ...folded,
      outcome: {
        status: "failed",
        report: parsed,
        cause: "The probe reports not ok although every grant's evidence is there (a bug in the probe or the judge).",
        nextStep: `look at the extension's output; ${RERUN}`,
      },
    };
  }
  return folded;
}
