/**
 * Intended versus effective permissions, as pure functions (no Pulumi, no I/O).
 *
 * The intent is a set of role definitions (or bare permission blocks); the effect is what
 * ARM's "Permissions - List For Resource Group" returns to the identity itself
 * (`GET .../resourceGroups/{rg}/providers/Microsoft.Authorization/permissions`, "all permissions
 * the caller has", https://learn.microsoft.com/en-us/rest/api/authorization/permissions/list-for-resource-group):
 * `{ value: [{ actions, notActions, dataActions, notDataActions }] }`, inherited grants included.
 *
 * Azure's evaluation, which this module follows (MicrosoftDocs/azure-docs,
 * articles/role-based-access-control/custom-roles.md "Wildcard permissions" and
 * role-definitions.md "NotActions"):
 * - permission strings are case-insensitive; `*` extends a permission to everything that
 *   matches the rest of the string, `/` included ("star slash read" is every control-plane read);
 * - a block grants an operation when one of its `actions` matches and none of the *same
 *   block's* `notActions` does; blocks are unioned: "NotActions is not a deny rule", so one
 *   role's notActions never take away what another role grants;
 * - `dataActions` / `notDataActions` work the same way in their own namespace: a data
 *   action is never granted by `actions` and vice versa.
 */
import type { PermissionBlock } from "../components/roles";

export type { PermissionBlock } from "../components/roles";

/** The two namespaces of operations. */
export type OperationKind = "actions" | "dataActions";

const NOT: Record<OperationKind, "notActions" | "notDataActions"> = { actions: "notActions", dataActions: "notDataActions" };

/** A block as a caller may hold it (parsed JSON, hand-written config): an absent or null list is empty. */
export interface PermissionBlockInput {
  readonly actions?: readonly string[] | null;
  readonly notActions?: readonly string[] | null;
  readonly dataActions?: readonly string[] | null;
  readonly notDataActions?: readonly string[] | null;
}

export function toPermissionBlock(b: PermissionBlockInput): PermissionBlock {
  return {
    actions: b.actions ?? [],
    notActions: b.notActions ?? [],
    dataActions: b.dataActions ?? [],
    notDataActions: b.notDataActions ?? [],
  };
}

/** Lower case, trimmed, runs of `*` folded into one: the same language, a canonical spelling. */
function canon(pattern: string): string {
  return pattern.trim().toLowerCase().replace(/\*+/g, "*");
}

/*
 * The comparison asks the same few pattern questions many times (every block against every
 * other); the answers are pure, so they are kept. The bound only matters to a caller feeding
 * arbitrary patterns.
 */
const CACHE_LIMIT = 4096;
const coversMemo = new Map<string, boolean>();
const intersectMemo = new Map<string, boolean>();

function memo(cache: Map<string, boolean>, a: string, b: string, f: (a: string, b: string) => boolean): boolean {
  const x = canon(a);
  const y = canon(b);
  const key = JSON.stringify([x, y]);
  let v = cache.get(key);
  if (v === undefined) {
    v = f(x, y);
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, v);
  }
  return v;
}

const compiled = new Map<string, RegExp>();

/** Does a pattern (with `*` wildcards) match a concrete operation? Case-insensitive. */
export function patternMatches(pattern: string, operation: string): boolean {
  const p = canon(pattern);
  let re = compiled.get(p);
  if (!re) {
    // Only `*` is special: every other character, `.` included, stands for itself.
    const literal = (part: string) => part.replace(/[.+?^${}()|[\]\\/]/g, "\\$&");
    re = new RegExp("^" + p.split("*").map(literal).join(".*") + "$", "s");
    if (compiled.size >= CACHE_LIMIT) compiled.clear();
    compiled.set(p, re);
  }
  return re.test(operation.trim().toLowerCase());
}

/**
 * Does pattern `a` cover pattern `b`, i.e. does `a` match every operation `b` matches?
 *
 * Decided exactly by matching `a` against `b` read as a string in which each of `b`'s `*`
 * may be swallowed only by a `*` of `a`, never by a literal: if `b`'s stars can expand to a
 * character `a` does not contain, only `a`'s stars can absorb it, and any match found this
 * way survives every expansion of `b`. So `*` covers everything, "star slash read" covers
 * "Microsoft.Storage/star/read", and "Microsoft.Storage/star" does not cover "star slash read".
 */
export function patternCovers(a: string, b: string): boolean {
  return memo(coversMemo, a, b, coversRaw);
}

function coversRaw(p: string, q: string): boolean {
  let next = new Array<boolean>(q.length + 1).fill(false);
  next[q.length] = true;
  for (let i = p.length - 1; i >= 0; i--) {
    const cur = new Array<boolean>(q.length + 1).fill(false);
    for (let j = q.length; j >= 0; j--) {
      if (p[i] === "*") cur[j] = next[j] || (j < q.length && cur[j + 1]);
      else cur[j] = j < q.length && q[j] !== "*" && p[i] === q[j] && next[j + 1];
    }
    next = cur;
  }
  return next[0];
}

/** Is there an operation both patterns match? */
export function patternsIntersect(a: string, b: string): boolean {
  return memo(intersectMemo, a, b, intersectRaw);
}

function intersectRaw(x: string, y: string): boolean {
  // dp[i][j]: some string is matched by both x[i..] and y[j..]. Every move advances i or j.
  const dp: boolean[][] = Array.from({ length: x.length + 1 }, () => new Array<boolean>(y.length + 1).fill(false));
  for (let i = x.length; i >= 0; i--) {
    for (let j = y.length; j >= 0; j--) {
      if (i === x.length && j === y.length) {
        dp[i][j] = true;
        continue;
      }
      let ok = false;
      if (i < x.length && x[i] === "*") ok = dp[i + 1][j] || (j < y.length && y[j] !== "*" && dp[i][j + 1]);
      if (!ok && j < y.length && y[j] === "*") ok = dp[i][j + 1] || (i < x.length && x[i] !== "*" && dp[i + 1][j]);
      if (!ok && i < x.length && j < y.length && x[i] !== "*" && y[j] !== "*") ok = x[i] === y[j] && dp[i + 1][j + 1];
      dp[i][j] = ok;
    }
  }
  return dp[0][0];
}

/** Does this block, on its own, grant `operation`? (Its own not-list subtracts; no other block's does.) */
export function blockGrants(block: PermissionBlockInput, operation: string, kind: OperationKind = "actions"): boolean {
  const b = toPermissionBlock(block);
  return b[kind].some((a) => patternMatches(a, operation)) && !b[NOT[kind]].some((n) => patternMatches(n, operation));
}

/** Does any of the blocks grant `operation`? (Azure unions the grants of all roles that apply.) */
export function blocksGrant(blocks: readonly PermissionBlockInput[], operation: string, kind: OperationKind = "actions"): boolean {
  return blocks.some((b) => blockGrants(b, operation, kind));
}

/**
 * Can a pattern reach an operation that changes something? `/write`, `/delete` and
 * `/action` all count: an `/action` can be anything (listKeys/action hands out the account's
 * keys), so it is never assumed to be harmless. `*` and `Microsoft.Support/*` are write-like,
 * "star slash read" is not.
 */
export function isWriteLike(pattern: string): boolean {
  return ["*/write", "*/delete", "*/action"].some((w) => patternsIntersect(pattern, w));
}

/**
 * Is everything a pattern grants, less what `excluded` takes away, granted by `blocks`?
 * Returns that question as a function of the pattern, for one `excluded` and one set of blocks.
 *
 * A block helps with a pattern when one of its patterns covers it and none of its
 * not-patterns does (such a block grants nothing of it). Its other not-patterns then leave
 * holes: one that does not touch the pattern, or that `excluded` already covers, leaves
 * none; one that the pattern covers must be filled by the blocks, asked the same question.
 * That hole is strictly narrower than the pattern (a not-pattern as wide as the pattern would
 * have disqualified the block), so the recursion ends, and each pattern is answered once.
 * A not-pattern that only partly overlaps the pattern (neither covers the other) is taken
 * to remove all of it: conservative, it can report a gap that is not there, never hide one.
 */
function coverage(excluded: readonly string[], blocks: readonly PermissionBlock[], kind: OperationKind): (pattern: string) => boolean {
  const known = new Map<string, boolean>();
  const covered = (pattern: string): boolean => {
    const key = canon(pattern);
    const cached = known.get(key);
    if (cached !== undefined) return cached;
    const answer =
      excluded.some((e) => patternCovers(e, pattern)) ||
      blocks.some((b) => {
        if (!b[kind].some((a) => patternCovers(a, pattern))) return false;
        const not = b[NOT[kind]];
        if (not.some((n) => patternCovers(n, pattern))) return false;
        const holes = not.filter((n) => patternsIntersect(n, pattern) && !excluded.some((e) => patternCovers(e, n)));
        return holes.every((n) => patternCovers(pattern, n) && covered(n));
      });
    known.set(key, answer);
    return answer;
  };
  return covered;
}

/** Concrete operations to evaluate on both sides in addition to the patterns, e.g. the ones a probe exercises. */
export interface PermissionProbes {
  readonly actions?: readonly string[];
  readonly dataActions?: readonly string[];
}

export interface KindComparison {
  /** Patterns (and probe operations) the intent grants that the effective blocks do not cover. */
  readonly missing: string[];
  /** Patterns (and probe operations) the effective blocks grant that no intended block covers. */
  readonly extra: string[];
}

export interface PermissionComparison extends KindComparison {
  /**
   * "missing" when anything intended is not granted (a failure, even if there is also
   * something extra); otherwise "overPrivileged" when anything is granted beyond intent
   * (read-only extras included); otherwise "exact".
   */
  readonly verdict: "exact" | "missing" | "overPrivileged";
  readonly actions: KindComparison;
  readonly dataActions: KindComparison;
  /** The part of `extra` that can change something (see isWriteLike): what to report first. */
  readonly extraWriteLike: string[];
}

/** Keeps the first spelling of each pattern; patterns are compared case-insensitively. */
function pushUnique(list: string[], item: string): void {
  if (!list.some((x) => canon(x) === canon(item))) list.push(item);
}

function compareKind(
  intended: readonly PermissionBlock[],
  effective: readonly PermissionBlock[],
  kind: OperationKind,
  probes: readonly string[],
): KindComparison {
  const missing: string[] = [];
  const extra: string[] = [];
  for (const block of intended) {
    const covered = coverage(block[NOT[kind]], effective, kind);
    for (const p of block[kind]) if (!covered(p)) pushUnique(missing, p);
  }
  for (const block of effective) {
    const covered = coverage(block[NOT[kind]], intended, kind);
    for (const q of block[kind]) if (!covered(q)) pushUnique(extra, q);
  }
  for (const op of probes) {
    const want = blocksGrant(intended, op, kind);
    const have = blocksGrant(effective, op, kind);
    if (want && !have) pushUnique(missing, op);
    if (have && !want) pushUnique(extra, op);
  }
  return { missing, extra };
}

/**
 * Compares the permissions an identity was meant to have with the ones ARM says it has.
 *
 * Each intended pattern (less its own block's not-list) must be covered by the effective
 * blocks, or it is listed in `missing`; each effective pattern (less its own block's
 * not-list) must be covered by the intended blocks, or it is listed in `extra`. The lists
 * name the pattern as written in the definition (e.g. intended Reader against effective
 * Contributor: extra `["*"]`). Coverage is decided on patterns, exactly for plain patterns
 * and conservatively where a not-pattern only partly overlaps (see `coverage`), so a verdict
 * of "exact" is never given when a concrete operation is granted on one side only.
 * `probes` adds concrete operations, evaluated exactly on both sides, listed by name.
 *
 * Monotone by construction: granting the identity one more block never shrinks `extra`,
 * taking one away never shrinks `missing`.
 */
export function comparePermissions(
  intended: readonly PermissionBlockInput[],
  effective: readonly PermissionBlockInput[],
  probes: PermissionProbes = {},
): PermissionComparison {
  const want = intended.map(toPermissionBlock);
  const have = effective.map(toPermissionBlock);
  const actions = compareKind(want, have, "actions", probes.actions ?? []);
  const dataActions = compareKind(want, have, "dataActions", probes.dataActions ?? []);
  const missing = [...actions.missing, ...dataActions.missing];
  const extra = [...actions.extra, ...dataActions.extra];
  const verdict = missing.length > 0 ? "missing" : extra.length > 0 ? "overPrivileged" : "exact";
  return { verdict, missing, extra, actions, dataActions, extraWriteLike: extra.filter(isWriteLike) };
}
