import {
  BUILT_IN_ROLE_DEFINITIONS,
  CONTRIBUTOR,
  KEY_VAULT_READER,
  KEY_VAULT_SECRETS_USER,
  MONITORING_READER,
  OWNER,
  READER,
  STORAGE_BLOB_DATA_CONTRIBUTOR,
  STORAGE_BLOB_DATA_READER,
  USER_ACCESS_ADMINISTRATOR,
  type PermissionBlock,
} from "../components/roles";
import {
  blocksGrant,
  comparePermissions,
  isWriteLike,
  patternCovers,
  patternMatches,
  patternsIntersect,
  type OperationKind,
  type PermissionComparison,
} from "./permissions";

const RG_READ = "Microsoft.Resources/subscriptions/resourceGroups/read";
const BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs";
const block = (b: Partial<PermissionBlock>): PermissionBlock => ({
  actions: [],
  notActions: [],
  dataActions: [],
  notDataActions: [],
  ...b,
});

describe("patterns", () => {
  it("match operations case-insensitively, `*` spanning slashes", () => {
    expect(patternMatches("*/read", RG_READ)).toBe(true);
    expect(patternMatches("*", RG_READ)).toBe(true);
    expect(patternMatches("microsoft.resources/*", RG_READ)).toBe(true);
    expect(patternMatches("Microsoft.Authorization/*/Write", "microsoft.authorization/roleAssignments/write")).toBe(true);
    expect(patternMatches("Microsoft.Resources/*", "Microsoft.ResourcesX/a/read")).toBe(false);
    expect(patternMatches("*/read", "Microsoft.Resources/subscriptions/resourceGroups/write")).toBe(false);
    expect(patternMatches("Microsoft.Compute/*/read", RG_READ)).toBe(false);
    // Regular-expression characters in a pattern are literals.
    expect(patternMatches("a.b/read", "axb/read")).toBe(false);
  });

  it("cover another pattern only when they match everything it matches", () => {
    expect(patternCovers("*", "*/read")).toBe(true);
    expect(patternCovers("*/read", "Microsoft.Storage/*/read")).toBe(true);
    expect(patternCovers("*/read", RG_READ)).toBe(true);
    expect(patternCovers("Microsoft.Storage/*", "Microsoft.Storage/storageAccounts/*/read")).toBe(true);
    expect(patternCovers("*/read", "*")).toBe(false);
    expect(patternCovers("Microsoft.Storage/*", "*/read")).toBe(false);
    expect(patternCovers("*/read", "Microsoft.Storage/*")).toBe(false);
    expect(patternCovers("Microsoft.Authorization/*/write", "Microsoft.Authorization/*")).toBe(false);
    expect(patternCovers("MICROSOFT.AUTHORIZATION/*/WRITE", "microsoft.authorization/roleassignments/write")).toBe(true);
    expect(patternCovers("a**b", "a*b")).toBe(true);
  });

  it("intersect when some operation matches both", () => {
    expect(patternsIntersect("*/read", "Microsoft.Storage/*")).toBe(true);
    expect(patternsIntersect("*/read", "Microsoft.Authorization/*/Delete")).toBe(false);
    expect(patternsIntersect("Microsoft.Storage/*", "Microsoft.Compute/*")).toBe(false);
    expect(patternsIntersect("a*", "*b")).toBe(true);
    expect(patternsIntersect("ab", "a*b")).toBe(true);
    expect(patternsIntersect("a", "a*b")).toBe(false);
  });

  // Exhaustive cross-check of the pattern algebra against concrete matching, over a tiny alphabet
  // where every string up to the needed length can be listed ("#" stands for any other character).
  it("agree with concrete matching: covers is exact, intersects is exact", () => {
    const patterns = [...new Set(allStrings(["a", "/", "*"], 4).map((p) => p.replace(/\*+/g, "*")))];
    const strings = allStrings(["a", "/", "#"], 6);
    const matched = new Map(patterns.map((p) => [p, new Set(strings.filter((s) => patternMatches(p, s)))]));
    const literals = (p: string) => p.replace(/\*/g, "").length;
    const wrong: unknown[] = [];
    for (const a of patterns) {
      const ma = matched.get(a)!;
      for (const b of patterns) {
        const mb = [...matched.get(b)!];
        // covers never claims what a listed string refutes; when it says no, b with its stars
        // widened to a character a does not contain is the witness.
        const covers = patternCovers(a, b);
        if (covers ? !mb.every((s) => ma.has(s)) : patternMatches(a, b.replace(/\*/g, "#"))) wrong.push({ a, b, covers });
        // A shortest shared string spends each character on a literal of a or of b, so with at most
        // 6 literals between them the listed strings (up to 6 long) decide the question.
        const shared = mb.some((s) => ma.has(s));
        if ((literals(a) + literals(b) <= 6 || shared) && patternsIntersect(a, b) !== shared) wrong.push({ a, b, shared });
      }
    }
    expect(patterns.length).toBeGreaterThan(50);
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  it("call write, delete, action and anything wider write-like, reads not", () => {
    for (const p of [
      "*",
      "Microsoft.Support/*",
      `${BLOBS}/write`,
      `${BLOBS}/delete`,
      "Microsoft.Storage/storageAccounts/listkeys/action",
      "*/write",
    ]) {
      expect([p, isWriteLike(p)]).toEqual([p, true]);
    }
    for (const p of ["*/read", RG_READ, "Microsoft.KeyVault/vaults/*/read"]) expect([p, isWriteLike(p)]).toEqual([p, false]);
  });
});

function allStrings(alphabet: string[], maxLen: number): string[] {
  const out = [""];
  let layer = [""];
  for (let n = 1; n <= maxLen; n++) {
    layer = layer.flatMap((s) => alphabet.map((c) => s + c));
    out.push(...layer);
  }
  return out;
}

describe("comparePermissions: the cases issue 9 names", () => {
  it("intended Reader, effective Reader: exact", () => {
    expect(comparePermissions([READER], [READER])).toEqual({
      verdict: "exact",
      missing: [],
      extra: [],
      actions: { missing: [], extra: [] },
      dataActions: { missing: [], extra: [] },
      extraWriteLike: [],
    });
  });

  it("intended Reader, effective Contributor: over-privileged, extra `*`, write-like", () => {
    const r = comparePermissions([READER], [CONTRIBUTOR]);
    expect([r.verdict, r.missing, r.extra, r.extraWriteLike]).toEqual(["overPrivileged", [], ["*"], ["*"]]);
  });

  it("intended Reader, effective Reader plus an inherited Contributor: over-privileged", () => {
    const r = comparePermissions([READER], [READER, CONTRIBUTOR]);
    expect([r.verdict, r.missing, r.extra]).toEqual(["overPrivileged", [], ["*"]]);
  });

  it("intended Storage Blob Data Reader, effective the same: exact", () => {
    expect(comparePermissions([STORAGE_BLOB_DATA_READER], [STORAGE_BLOB_DATA_READER]).verdict).toBe("exact");
  });

  it("intended Storage Blob Data Reader, effective Storage Blob Data Contributor: over-privileged on data actions", () => {
    const r = comparePermissions([STORAGE_BLOB_DATA_READER], [STORAGE_BLOB_DATA_CONTRIBUTOR]);
    expect(r.verdict).toBe("overPrivileged");
    expect(r.missing).toEqual([]);
    expect(r.dataActions).toEqual({
      missing: [],
      extra: [`${BLOBS}/delete`, `${BLOBS}/write`, `${BLOBS}/move/action`, `${BLOBS}/add/action`],
    });
    expect(r.actions.extra).toEqual([
      "Microsoft.Storage/storageAccounts/blobServices/containers/delete",
      "Microsoft.Storage/storageAccounts/blobServices/containers/write",
    ]);
    expect(r.extraWriteLike).toEqual(r.extra);
  });

  it("intended Contributor, effective Reader: missing `*`", () => {
    const r = comparePermissions([CONTRIBUTOR], [READER]);
    expect([r.verdict, r.missing, r.extra]).toEqual(["missing", ["*"], []]);
  });

  it("intended Reader, effective only Storage Blob Data Reader: missing `*/read` (and the blob role's own extras listed)", () => {
    const r = comparePermissions([READER], [STORAGE_BLOB_DATA_READER]);
    expect(r.verdict).toBe("missing");
    expect(r.missing).toEqual(["*/read"]);
    expect(r.extra).toEqual(["Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action", `${BLOBS}/read`]);
  });
});

describe("comparePermissions: semantics", () => {
  it("subtracts a block's notActions from that block only, and lets another block fill the hole", () => {
    // Contributor's Authorization writes come back through User Access Administrator.
    const r = comparePermissions([OWNER], [CONTRIBUTOR, USER_ACCESS_ADMINISTRATOR]);
    // ...but Contributor also leaves out Blueprint, Purview, galleries and subscription actions, which nothing fills.
    expect([r.verdict, r.missing]).toEqual(["missing", ["*"]]);
    const allButAuthorizationWrites = block({ actions: ["*"], notActions: ["Microsoft.Authorization/*/Write"] });
    expect(comparePermissions([OWNER], [allButAuthorizationWrites, block({ actions: ["Microsoft.Authorization/*"] })]).verdict).toBe(
      "exact",
    );
    expect(
      comparePermissions([OWNER], [allButAuthorizationWrites, block({ actions: ["Microsoft.Authorization/roleAssignments/write"] })])
        .missing,
    ).toEqual(["*"]);
  });

  it("respects the intended side's notActions: what the intent takes away need not be granted, and granting it is extra", () => {
    expect(comparePermissions([CONTRIBUTOR], [CONTRIBUTOR]).verdict).toBe("exact");
    const r = comparePermissions([CONTRIBUTOR], [OWNER]);
    expect([r.verdict, r.extra]).toEqual(["overPrivileged", ["*"]]);
    const withRoleWrites = comparePermissions(
      [CONTRIBUTOR],
      [CONTRIBUTOR, block({ actions: ["Microsoft.Authorization/roleAssignments/write"] })],
    );
    expect([withRoleWrites.verdict, withRoleWrites.extra]).toEqual(["overPrivileged", ["Microsoft.Authorization/roleAssignments/write"]]);
    // Owner less exactly what Contributor leaves out is Contributor.
    expect(comparePermissions([CONTRIBUTOR], [block({ actions: ["*"], notActions: [...CONTRIBUTOR.notActions] })]).verdict).toBe("exact");
  });

  it("keeps actions and data actions apart, although both can spell the same pattern", () => {
    const asActions = block({ actions: ["Microsoft.KeyVault/vaults/*/read"] });
    const asData = block({ dataActions: ["Microsoft.KeyVault/vaults/*/read"] });
    const r = comparePermissions([asActions], [asData]);
    expect([r.verdict, r.actions, r.dataActions]).toEqual([
      "missing",
      { missing: ["Microsoft.KeyVault/vaults/*/read"], extra: [] },
      { missing: [], extra: ["Microsoft.KeyVault/vaults/*/read"] },
    ]);
    // Owner's `*` says nothing about data: it does not cover a data role.
    expect(comparePermissions([KEY_VAULT_SECRETS_USER], [OWNER]).dataActions.missing).toEqual(KEY_VAULT_SECRETS_USER.dataActions);
  });

  it("reports missing ahead of extra, and read-only extras too (outside extraWriteLike)", () => {
    const both = comparePermissions([KEY_VAULT_READER], [READER]);
    expect(both.verdict).toBe("missing");
    expect(both.extra).toEqual(["*/read"]);
    const readOnlyExtra = comparePermissions([block({ actions: [RG_READ] })], [READER]);
    expect([readOnlyExtra.verdict, readOnlyExtra.extra, readOnlyExtra.extraWriteLike]).toEqual(["overPrivileged", ["*/read"], []]);
    const monitoring = comparePermissions([READER], [MONITORING_READER]);
    expect(monitoring.extraWriteLike).toEqual(["Microsoft.OperationalInsights/workspaces/search/action", "Microsoft.Support/*"]);
  });

  it("accepts blocks as ARM sends them, with lists left out, and compares patterns case-insensitively", () => {
    expect(comparePermissions([READER], [{ actions: ["*/READ"] }]).verdict).toBe("exact");
    expect(comparePermissions([{ actions: ["*/read"], dataActions: null }], [READER]).verdict).toBe("exact");
    expect(comparePermissions([], []).verdict).toBe("exact");
    expect(comparePermissions([READER], []).missing).toEqual(["*/read"]);
    expect(comparePermissions([], [READER]).extra).toEqual(["*/read"]);
  });

  it("adds probe operations, evaluated exactly, by name", () => {
    const r = comparePermissions([READER], [CONTRIBUTOR], {
      actions: [RG_READ, "Microsoft.Compute/virtualMachines/delete", "Microsoft.Authorization/roleAssignments/write"],
    });
    expect(r.extra).toEqual(["*", "Microsoft.Compute/virtualMachines/delete"]);
    const d = comparePermissions([STORAGE_BLOB_DATA_CONTRIBUTOR], [STORAGE_BLOB_DATA_READER], {
      dataActions: [`${BLOBS}/read`, `${BLOBS}/write`],
    });
    expect(d.dataActions.missing).toContain(`${BLOBS}/write`);
    expect(d.dataActions.missing).not.toContain(`${BLOBS}/read`);
  });

  it("grants a concrete operation when a block's pattern matches and none of that block's not-patterns does", () => {
    const deny = block({ actions: ["*"], notActions: ["*/write"], dataActions: [`${BLOBS}/*`], notDataActions: [`${BLOBS}/delete`] });
    expect(blocksGrant([deny], RG_READ)).toBe(true);
    expect(blocksGrant([deny], "Microsoft.Resources/subscriptions/resourceGroups/write")).toBe(false);
    expect(
      blocksGrant([deny, block({ actions: ["Microsoft.Resources/*"] })], "Microsoft.Resources/subscriptions/resourceGroups/write"),
    ).toBe(true);
    expect(blocksGrant([block({ dataActions: [`${BLOBS}/*`] })], `${BLOBS}/read`)).toBe(false);
    expect(blocksGrant([deny], `${BLOBS}/read`, "dataActions")).toBe(true);
    expect(blocksGrant([deny], `${BLOBS}/DELETE`, "dataActions")).toBe(false);
    expect(blocksGrant([], RG_READ)).toBe(false);
  });

  // The same role often applies twice (assigned at the subscription and at the group); each copy's holes
  // must not multiply the work. Answered in milliseconds; a search over orders of blocks would not end.
  it("stays fast with many overlapping blocks", () => {
    const copies = Array.from({ length: 40 }, (_, i) => ({ ...CONTRIBUTOR, notActions: [...CONTRIBUTOR.notActions, `Microsoft.X${i}/*`] }));
    const r = comparePermissions([OWNER], copies);
    expect([r.verdict, r.missing, r.extra]).toEqual(["missing", ["*"], []]);
    expect(comparePermissions(copies, copies).verdict).toBe("exact");
  }, 30_000);

  it("is conservative where a notAction only partly overlaps: it reports a gap rather than hide one", () => {
    // Effective: everything but Compute, plus Compute's reads - which does grant every read.
    // Neither "Microsoft.Compute/*" nor "*/read" covers the other, so the hole is not split: reported missing.
    const r = comparePermissions(
      [READER],
      [block({ actions: ["*"], notActions: ["Microsoft.Compute/*"] }), block({ actions: ["Microsoft.Compute/*/read"] })],
    );
    expect(r.missing).toEqual(["*/read"]);
    // ...and with Compute really gone it is a true gap, reported the same way.
    expect(comparePermissions([READER], [block({ actions: ["*"], notActions: ["Microsoft.Compute/*"] })]).missing).toEqual(["*/read"]);
  });
});

// ---- Property tests: a seeded generator over the table's roles and random blocks (no dependency). ----

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PROVIDERS = ["Microsoft.Storage", "Microsoft.Compute", "Microsoft.Authorization", "Microsoft.KeyVault", "Microsoft.Support"];
const TYPES = ["storageAccounts", "virtualMachines", "roleAssignments", "vaults/secrets", "storageAccounts/blobServices/containers/blobs"];
const VERBS = ["read", "write", "delete", "action", "move/action"];

function generator(seed: number) {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const pattern = (): string =>
    pick([
      () => "*",
      () => `*/${pick(VERBS)}`,
      () => `${pick(PROVIDERS)}/*`,
      () => `${pick(PROVIDERS)}/*/${pick(VERBS)}`,
      () => `${pick(PROVIDERS)}/${pick(TYPES)}/${pick(VERBS)}`,
      () => `${pick(PROVIDERS)}/${pick(TYPES)}/*`,
    ])();
  const list = (max: number): string[] => Array.from({ length: Math.floor(rnd() * (max + 1)) }, pattern);
  const randomBlock = (): PermissionBlock => ({ actions: list(3), notActions: list(2), dataActions: list(2), notDataActions: list(1) });
  const blockOrRole = (): PermissionBlock => (rnd() < 0.5 ? pick(BUILT_IN_ROLE_DEFINITIONS) : randomBlock());
  const set = (max: number): PermissionBlock[] => Array.from({ length: Math.floor(rnd() * (max + 1)) }, blockOrRole);
  return { rnd, pick, blockOrRole, set };
}

/** Concrete operations: the vocabulary's, the table's literal ones, and the table's patterns with their stars filled in. */
const OPERATIONS: string[] = (() => {
  const ops = new Set<string>();
  for (const p of PROVIDERS) for (const t of TYPES) for (const v of VERBS) ops.add(`${p}/${t}/${v}`);
  for (const r of BUILT_IN_ROLE_DEFINITIONS) {
    for (const p of [...r.actions, ...r.notActions, ...r.dataActions, ...r.notDataActions]) {
      for (const fill of ["Microsoft.Storage/storageAccounts", "secrets", "x/read", "x/write", "x/delete", "x/action"])
        ops.add(p.replace(/\*/g, fill));
    }
  }
  return [...ops];
})();

const KINDS: OperationKind[] = ["actions", "dataActions"];

/** The oracle for the properties, written apart from the module under test: Azure's rule, one operation at a time. */
function oracleGrants(blocks: readonly PermissionBlock[], op: string, kind: OperationKind): boolean {
  const re = (p: string) =>
    new RegExp(
      "^" +
        p
          .split("*")
          .map((s) => s.replace(/[.\\/]/g, "\\$&"))
          .join(".*") +
        "$",
      "i",
    );
  const not = kind === "actions" ? "notActions" : "notDataActions";
  return blocks.some((b) => b[kind].some((p) => re(p).test(op)) && !b[not].some((p) => re(p).test(op)));
}
const canonSet = (xs: string[]) => new Set(xs.map((x) => x.toLowerCase()));
const isSuperset = (big: string[], small: string[]) => [...canonSet(small)].every((x) => canonSet(big).has(x));
const ITERATIONS = 400;

describe("comparePermissions: properties over random role sets (seeded)", () => {
  it("compares any set with itself as exact", () => {
    const g = generator(1);
    for (let n = 0; n < ITERATIONS; n++) {
      const s = g.set(4);
      const r = comparePermissions(s, s);
      if (r.verdict !== "exact") expect({ n, s, r }).toBe("exact");
    }
  });

  it("never shrinks extra when a block is added to the effective side, nor missing when one is removed", () => {
    const g = generator(2);
    for (let n = 0; n < ITERATIONS; n++) {
      const intended = g.set(3);
      const effective = g.set(3);
      const added = [...effective, g.blockOrRole()];
      const before = comparePermissions(intended, effective);
      const afterAdd = comparePermissions(intended, added);
      for (const k of KINDS) expect([n, k, isSuperset(afterAdd[k].extra, before[k].extra)]).toEqual([n, k, true]);
      if (effective.length > 0) {
        const removed = effective.filter((_, i) => i !== Math.floor(g.rnd() * effective.length));
        const afterRemove = comparePermissions(intended, removed);
        for (const k of KINDS) expect([n, k, isSuperset(afterRemove[k].missing, before[k].missing)]).toEqual([n, k, true]);
      }
    }
  });

  it("never hides a concrete operation granted on one side only: some reported pattern matches it", () => {
    const g = generator(3);
    let disagreements = 0;
    const hidden: unknown[] = [];
    for (let n = 0; n < ITERATIONS; n++) {
      const intended = g.set(3);
      const effective = g.set(3);
      const r: PermissionComparison = comparePermissions(intended, effective);
      for (const k of KINDS) {
        for (const op of OPERATIONS) {
          const want = oracleGrants(intended, op, k);
          const have = oracleGrants(effective, op, k);
          if (want === have) continue;
          disagreements++;
          const reported = want ? r[k].missing : r[k].extra;
          if (!reported.some((p) => patternMatches(p, op)) || r.verdict === "exact") hidden.push({ n, k, op, intended, effective, r });
        }
      }
    }
    expect(hidden.slice(0, 3)).toEqual([]);
    // The generator must actually produce disagreements, or this property would hold vacuously.
    expect(disagreements).toBeGreaterThan(1000);
  });

  it("lists a probe operation exactly when the two sides disagree on it", () => {
    const g = generator(4);
    const unlisted: unknown[] = [];
    for (let n = 0; n < 100; n++) {
      const intended = g.set(3);
      const effective = g.set(3);
      const r = comparePermissions(intended, effective, { actions: OPERATIONS, dataActions: OPERATIONS });
      for (const k of KINDS) {
        const missing = canonSet(r[k].missing);
        const extra = canonSet(r[k].extra);
        for (const op of OPERATIONS) {
          const want = oracleGrants(intended, op, k);
          const have = oracleGrants(effective, op, k);
          if (want && !have && !missing.has(op.toLowerCase())) unlisted.push({ n, k, op, side: "missing" });
          if (have && !want && !extra.has(op.toLowerCase())) unlisted.push({ n, k, op, side: "extra" });
        }
      }
    }
    expect(unlisted.slice(0, 3)).toEqual([]);
  });
});
