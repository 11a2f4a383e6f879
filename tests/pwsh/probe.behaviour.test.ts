/**
 * The probe, run by real PowerShell against the IMDS/ARM emulator (fixture: probeLab.ts).
 * Cases are independent (one emulator each) and run concurrently. Time is compressed
 * through the probe's own seams (-RetryBaseSeconds, -RetryCapSeconds, -DeadlineSeconds,
 * -FaultBudgetSeconds) except where a case is about real time; one case runs at the
 * probe's default timing.
 */
import { READER_ROLE_ID, type Fault } from "../../offline/azure-emulator";
import { expectContract, leaksToken, probe, requests, RG, until, withLab } from "./probeLab";

describe("probe behaviour against the emulator", () => {
  test("the token detector used below does catch a real token (negative control)", async () => {
    await withLab({}, async ({ emu }) => {
      const token = emu.mintAccessToken();
      expect(leaksToken(`progress\n${token}\n`)).toBe(true);
      expect(leaksToken(`Bearer ${token.slice(0, 60)}`)).toBe(true);
      expect(leaksToken(`claims ${token.split(".")[1]}`)).toBe(true);
      expect(leaksToken('{"schema":"identitylab.probe/v1","ok":true}')).toBe(false);
    });
  });

  test.concurrent(
    "reads the resource group and the identity's permissions (embedded, as on the VM, in its own process, at the probe's default timing)",
    async () => {
      await withLab({ tags: { env: "lab", owner: "identity-lab" } }, async (lab) => {
        // In a pwsh of its own, as on the VM: the one run that pays pwsh's start-up (the others share hosts).
        const run = await probe(lab, {}, "embedded", "default", "process");
        const r = expectContract(run);
        const id = lab.emu.vmIdentity!;
        expect(r.ok).toBe(true);
        expect(r.resourceGroup).toEqual({
          id: lab.scope,
          name: RG,
          location: "westus",
          provisioningState: "Succeeded",
          tags: { env: "lab", owner: "identity-lab" },
        });
        expect(r.identity).toMatchObject({
          objectId: id.principalId,
          tenantId: lab.emu.tenantId,
          resourceId: id.resourceId,
          audience: "https://management.azure.com/",
        });
        const expiresIn = Date.parse(r.identity.expiresOn) - Date.now();
        expect(r.identity.expiresOn).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        expect(expiresIn).toBeGreaterThan(86000_000);
        expect(expiresIn).toBeLessThan(86400_000);
        expect(r.permissions).toEqual([{ actions: ["*/read"], notActions: [], dataActions: [], notDataActions: [] }]);
        expect(r.attempts).toEqual({ imds: 1, resourceGroup: 1, permissions: 1 });
        expect(r.trimmed).toEqual([]);
        const rgReq = requests(lab, "resourceGroup")[0];
        expect(rgReq.query["api-version"] >= "2022-09-01").toBe(true);
        expect(requests(lab, "permissions")[0].query["api-version"]).toBe("2022-04-01");
        expect(requests(lab, "imds")[0].query.resource).toBe("https://management.azure.com/");
      });
    },
  );

  test.concurrent("runs as a script file too, and a one-element permissions list stays a list", async () => {
    await withLab({ tags: {} }, async (lab) => {
      const r = expectContract(await probe(lab, {}, "file"));
      expect(r.ok).toBe(true);
      expect(r.resourceGroup.tags).toEqual({});
      expect(Array.isArray(r.permissions)).toBe(true);
      expect(Array.isArray(r.permissions[0].notActions)).toBe(true);
    });
  });

  test.concurrent("waits for a role assignment that takes effect later, and notices it within the backoff cap", async () => {
    await withLab({ role: "none" }, async (lab) => {
      const running = probe(lab);
      // The delay counts from the probe's first ARM call, whatever pwsh's start-up took.
      await until(() => requests(lab, "resourceGroup").length > 0);
      lab.emu.assignRole({
        scope: lab.scope,
        roleDefinitionId: READER_ROLE_ID,
        principalId: lab.emu.vmIdentity!.principalId,
        effectiveAfterMs: 1500,
      });
      const effectiveAt = lab.emu.listRoleAssignments()[0].effectiveAt;
      const r = expectContract(await running);
      expect(r.ok).toBe(true);
      const rg = requests(lab, "resourceGroup");
      expect(rg.filter((q) => q.status === 403).length).toBeGreaterThan(2);
      // The clocks agree: every 403 came before the role took effect (a few ms for the emulator's own clock reads).
      for (const q of rg.filter((x) => x.status === 403)) expect(lab.t0 + q.atMs).toBeLessThanOrEqual(effectiveAt + 5);
      const success = rg.find((q) => q.status === 200)!;
      // Cap 0.2 s: at most ~0.2 s plus one request's latency after the role took effect.
      expect(lab.t0 + success.atMs - effectiveAt).toBeLessThan(1000);
      // Backoff, not a busy loop: at most one call per ~0.18 s (0.9 x cap).
      expect(rg.length).toBeLessThan(1.5 / 0.18 + 5);
      expect(r.attempts.resourceGroup).toBe(rg.length);
      expect(r.attempts.imds).toBe(1);
    });
  });

  test.concurrent("retries IMDS through 410, 429 and 500 bursts", async () => {
    const faults: Fault[] = [{ status: 410 }, { status: 410 }, { status: 429 }, { status: 500 }, { status: 503 }, { status: 404 }];
    await withLab({ faults: { imds: faults } }, async (lab) => {
      const r = expectContract(await probe(lab));
      expect(r.ok).toBe(true);
      expect(r.attempts.imds).toBe(7);
      expect(requests(lab, "imds").map((q) => q.status)).toEqual([410, 410, 429, 500, 503, 404, 200]);
    });
  });

  test.concurrent("honours Retry-After on ARM 429 (seconds) and 503 (HTTP date) beyond the backoff cap", async () => {
    await withLab({}, async (lab) => {
      // A whole-second date at least 2 s away, so the header's 1 s resolution cannot shorten it.
      const retryAt = new Date(Math.ceil((Date.now() + 2500) / 1000) * 1000);
      lab.emu.injectFaults("resourceGroup", { status: 429, headers: { "Retry-After": "1" } });
      lab.emu.injectFaults("permissions", { status: 503, headers: { "Retry-After": retryAt.toUTCString() } });
      const r = expectContract(await probe(lab));
      expect(r.ok).toBe(true);
      const rg = requests(lab, "resourceGroup");
      expect(rg.map((q) => q.status)).toEqual([429, 200]);
      expect(rg[1].atMs - rg[0].atMs).toBeGreaterThanOrEqual(990);
      const perm = requests(lab, "permissions");
      expect(perm.map((q) => q.status)).toEqual([503, 200]);
      expect(lab.t0 + perm[1].atMs).toBeGreaterThanOrEqual(retryAt.getTime() - 20);
      expect(r.attempts).toEqual({ imds: 1, resourceGroup: 2, permissions: 2 });
    });
  });

  test.concurrent("throttling that names its end (429 + Retry-After) is waited out past the fault budget", async () => {
    const throttled = { status: 429, headers: { "Retry-After": "1" } };
    await withLab({ faults: { resourceGroup: [throttled, throttled] } }, async (lab) => {
      const r = expectContract(await probe(lab, { FaultBudgetSeconds: 0.3 }));
      expect(r.ok).toBe(true);
      const rg = requests(lab, "resourceGroup");
      expect(rg.map((q) => q.status)).toEqual([429, 429, 200]);
      expect(rg[2].atMs - rg[0].atMs).toBeGreaterThanOrEqual(1980);
    });
  });

  test.concurrent("retries ARM 5xx answers", async () => {
    await withLab(
      { faults: { resourceGroup: [{ status: 500 }, { status: 502 }, { status: 503 }], permissions: [{ status: 500 }] } },
      async (lab) => {
        const r = expectContract(await probe(lab));
        expect(r.ok).toBe(true);
        expect(r.attempts).toEqual({ imds: 1, resourceGroup: 4, permissions: 2 });
      },
    );
  });

  test.concurrent("retries connection resets on IMDS and ARM", async () => {
    await withLab(
      { faults: { imds: [{ reset: true }], resourceGroup: [{ reset: true }, { reset: true }], permissions: [{ reset: true }] } },
      async (lab) => {
        const r = expectContract(await probe(lab));
        expect(r.ok).toBe(true);
        expect(r.attempts).toEqual({ imds: 2, resourceGroup: 3, permissions: 2 });
      },
    );
  });

  test.concurrent("a request that never answers is cut by the per-request timeout and retried", async () => {
    await withLab({ faults: { imds: [{ hang: true }], resourceGroup: [{ hang: true }] } }, async (lab) => {
      const run = await probe(lab, { RequestTimeoutSeconds: 1 });
      const r = expectContract(run);
      expect(r.ok).toBe(true);
      for (const endpoint of ["imds", "resourceGroup"] as const) {
        const q = requests(lab, endpoint);
        expect(q.length).toBe(2);
        const gap = q[1].atMs - q[0].atMs;
        expect(gap).toBeGreaterThanOrEqual(950);
        expect(gap).toBeLessThan(2500);
      }
      expect(r.attempts).toEqual({ imds: 2, resourceGroup: 2, permissions: 1 });
    });
  });

  test.concurrent("when every answer hangs, the deadline still ends the probe with a Timeout report", async () => {
    const hangs = Array.from({ length: 20 }, () => ({ hang: true }));
    await withLab({ faults: { resourceGroup: hangs } }, async (lab) => {
      const run = await probe(lab, { DeadlineSeconds: 3, RequestTimeoutSeconds: 20 });
      const r = expectContract(run);
      expect(r.ok).toBe(false);
      expect(r.error).toMatchObject({ phase: "resourceGroup", status: null, code: "Timeout", requestId: null });
      expect(r.elapsedSeconds).toBeLessThanOrEqual(3.6);
      expect(r.identity).not.toBeNull();
      expect(r.resourceGroup).toBeNull();
      expect(r.permissions).toBeNull();
    });
  });

  test.concurrent("a missing resource group fails at once, without retries", async () => {
    await withLab({ addResourceGroup: false, role: "subscription" }, async (lab) => {
      const r = expectContract(await probe(lab));
      expect(r.ok).toBe(false);
      expect(r.error).toMatchObject({ phase: "resourceGroup", status: 404, code: "ResourceGroupNotFound" });
      expect(r.error.message).toContain(RG);
      expect(r.error.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.attempts).toEqual({ imds: 1, resourceGroup: 1, permissions: 0 });
      expect(requests(lab, "resourceGroup").length).toBe(1);
      expect(r.resourceGroup).toBeNull();
      expect(r.permissions).toBeNull();
      expect(r.identity).not.toBeNull();
      // Well before the 8 s deadline: nothing was waited for (the request log above shows no retry).
      expect(r.elapsedSeconds).toBeLessThan(6);
    });
  });

  test.concurrent("ARM 400s are not retried", async () => {
    await withLab(
      { faults: { resourceGroup: [{ status: 400, body: '{"error":{"code":"BadRequest","message":"nope"}}' }] } },
      async (lab) => {
        const r = expectContract(await probe(lab));
        expect(r.ok).toBe(false);
        expect(r.error).toMatchObject({ phase: "resourceGroup", status: 400, code: "BadRequest", message: "nope" });
        expect(r.attempts.resourceGroup).toBe(1);
      },
    );
  });

  test.concurrent("a role that never arrives is waited for the whole deadline, past the fault budget, then reported", async () => {
    await withLab({ role: "none" }, async (lab) => {
      const run = await probe(lab, { DeadlineSeconds: 3, FaultBudgetSeconds: 0.3 });
      const r = expectContract(run);
      expect(r.ok).toBe(false);
      expect(r.error).toMatchObject({ phase: "resourceGroup", status: 403, code: "AuthorizationFailed" });
      expect(r.error.requestId).toMatch(/^[0-9a-f-]{36}$/);
      // The last request's timeout is clamped to the deadline; 0.6 s allows for rounding and a busy machine.
      expect(r.elapsedSeconds).toBeLessThanOrEqual(3.6);
      // Patience: it kept asking well past the 0.3 s budget that other faults get.
      expect(r.elapsedSeconds).toBeGreaterThan(2);
      expect(r.attempts.resourceGroup).toBeGreaterThan(4);
      expect(r.attempts.resourceGroup).toBeLessThan(3 / 0.18 + 6);
      expect(r.identity).not.toBeNull();
      expect(r.resourceGroup).toBeNull();
    });
  });

  test.concurrent("a Retry-After beyond the deadline ends the probe now rather than sleeping into it", async () => {
    await withLab({ faults: { resourceGroup: [{ status: 429, headers: { "Retry-After": "60" } }] } }, async (lab) => {
      const r = expectContract(await probe(lab, { DeadlineSeconds: 10 }));
      expect(r.ok).toBe(false);
      expect(r.error).toMatchObject({ phase: "resourceGroup", status: 429 });
      expect(r.attempts.resourceGroup).toBe(1);
      // Not slept into the 10 s deadline (generous: a busy machine is slow, not that slow).
      expect(r.elapsedSeconds).toBeLessThan(6);
    });
  });

  test.concurrent("IMDS 5xx that persists ends with an imds report within the fault budget, long before the deadline", async () => {
    const errors = Array.from({ length: 200 }, () => ({ status: 500 }));
    await withLab({ faults: { imds: errors } }, async (lab) => {
      const r = expectContract(await probe(lab, { DeadlineSeconds: 30, FaultBudgetSeconds: 3 }));
      expect(r.ok).toBe(false);
      expect(r.error).toMatchObject({ phase: "imds", status: 500, requestId: null });
      expect(r.identity).toBeNull();
      // Ended by the budget, not the 30 s deadline (generous: the CI machine may be busy).
      expect(r.elapsedSeconds).toBeLessThan(15);
      // Retried (how often depends on the machine's speed: each attempt waits 0.05 s, 0.1 s, 0.2 s...).
      expect(r.attempts.imds).toBeGreaterThan(1);
      expect(r.attempts.resourceGroup).toBe(0);
      // No attempt starts after the budget (3 s from the first failure), by the emulator's own clock.
      const q = requests(lab, "imds");
      expect(q[q.length - 1].atMs - q[0].atMs).toBeLessThan(3500);
    });
  });

  test.concurrent("a last attempt cut short by the deadline does not hide what the endpoint answered", async () => {
    await withLab({ faults: { imds: [{ status: 500 }, { hang: true }] } }, async (lab) => {
      // 3 s: time for the 500 and a second attempt (which hangs into the deadline) even on a busy machine.
      const r = expectContract(await probe(lab, { DeadlineSeconds: 3 }));
      expect(r.error).toMatchObject({ phase: "imds", status: 500 });
      expect(r.attempts.imds).toBe(2);
    });
  });

  test.concurrent("a VM without an identity fails at once with IMDS's 400", async () => {
    await withLab({}, async (lab) => {
      lab.emu.setVmIdentity(null);
      const r = expectContract(await probe(lab));
      expect(r.ok).toBe(false);
      expect(r.error).toMatchObject({ phase: "imds", status: 400, code: "invalid_request", message: "Identity not found" });
      expect(r.attempts).toEqual({ imds: 1, resourceGroup: 0, permissions: 0 });
    });
  });

  test.concurrent("a 401 fetches a fresh token before the retry", async () => {
    await withLab({ faults: { resourceGroup: [{ status: 401 }] } }, async (lab) => {
      const r = expectContract(await probe(lab));
      expect(r.ok).toBe(true);
      expect(r.attempts).toEqual({ imds: 2, resourceGroup: 2, permissions: 1 });
      const order = lab.emu.requests.filter((q) => q.endpoint !== "other").map((q) => q.endpoint);
      expect(order).toEqual(["imds", "resourceGroup", "imds", "resourceGroup", "permissions"]);
    });
  });

  test.concurrent("a token within five minutes of expiry is replaced before each ARM call", async () => {
    await withLab({ shortLivedTokens: true }, async (lab) => {
      const r = expectContract(await probe(lab));
      expect(r.ok).toBe(true);
      expect(r.attempts).toEqual({ imds: 2, resourceGroup: 1, permissions: 1 });
    });
  });

  test.concurrent("malformed JSON from IMDS and ARM is retried and never echoed", async () => {
    await withLab(
      { faults: { imds: [{ malformed: true }], resourceGroup: [{ malformed: true }], permissions: [{ malformed: true }] } },
      async (lab) => {
        const run = await probe(lab);
        const r = expectContract(run);
        expect(r.ok).toBe(true);
        expect(r.attempts).toEqual({ imds: 2, resourceGroup: 2, permissions: 2 });
        // The malformed IMDS body starts a token: no part of it may reach the output.
        expect(run.stdout).not.toContain("eyJ0eXAiOiJKV1Qi");
      },
    );
  });

  test.concurrent("malformed JSON that persists is reported as MalformedResponse within the fault budget", async () => {
    const bad = Array.from({ length: 100 }, () => ({ malformed: true }));
    await withLab({ faults: { permissions: bad } }, async (lab) => {
      const r = expectContract(await probe(lab, { DeadlineSeconds: 30, FaultBudgetSeconds: 3 }));
      expect(r.ok).toBe(false);
      expect(r.error).toMatchObject({ phase: "permissions", status: 200, code: "MalformedResponse" });
      expect(r.elapsedSeconds).toBeLessThan(15);
      expect(r.attempts.permissions).toBeGreaterThan(1);
      const q = requests(lab, "permissions");
      expect(q[q.length - 1].atMs - q[0].atMs).toBeLessThan(3500);
      expect(r.resourceGroup).not.toBeNull();
      expect(r.permissions).toBeNull();
    });
  });

  test.concurrent("permissions too long for the report are cut, last entries first, and named in trimmed", async () => {
    await withLab({ role: "none" }, async (lab) => {
      const id = "6f1d2c3b-0000-4000-8000-000000000001";
      const actions = Array.from({ length: 120 }, (_, i) => `Microsoft.Example/resourceType${i}/subResource/read`);
      lab.emu.addRoleDefinition({ id, roleName: "Verbose reader", actions: ["*/read", ...actions] });
      const principalId = lab.emu.vmIdentity!.principalId;
      lab.emu.assignRole({ scope: lab.scope, roleDefinitionId: READER_ROLE_ID, principalId });
      lab.emu.assignRole({ scope: lab.scope, roleDefinitionId: id, principalId });
      const run = await probe(lab);
      const r = expectContract(run);
      expect(r.ok).toBe(true);
      // The contract's order: tags go first, even when they are not what made the report too long.
      expect(r.trimmed).toEqual(["resourceGroup.tags", "permissions"]);
      expect(r.resourceGroup.tags).toEqual({});
      expect(r.permissions).toEqual([{ actions: ["*/read"], notActions: [], dataActions: [], notDataActions: [] }]);
    });
  });

  test.concurrent("oversized tags are trimmed, largest first, to keep the report under 3,500 bytes", async () => {
    const tags: Record<string, string> = {};
    for (let i = 0; i < 50; i++) tags[`tag${String(i).padStart(2, "0")}`] = `${"v".repeat(i * 5)}`;
    tags.unicode = "café ☃ <b>&'";
    tags.when = "2024-01-01T00:00:00Z";
    await withLab({ tags }, async (lab) => {
      const run = await probe(lab);
      const r = expectContract(run);
      expect(r.ok).toBe(true);
      expect(r.trimmed).toEqual(["resourceGroup.tags"]);
      const kept = Object.entries(r.resourceGroup.tags as Record<string, string>);
      expect(kept.length).toBeGreaterThan(10);
      expect(kept.length).toBeLessThan(52);
      // What is kept is kept exactly, including non-ASCII (escaped on the wire) and date-like strings.
      for (const [k, v] of kept) expect(v).toBe(tags[k]);
      expect(r.resourceGroup.tags.unicode).toBe(tags.unicode);
      expect(r.resourceGroup.tags.when).toBe(tags.when);
      // Largest first: the longest tag is gone, the shortest are still there.
      expect(r.resourceGroup.tags.tag49).toBeUndefined();
      expect(r.resourceGroup.tags.tag00).toBe("");
      // The report is as full as it can be: it would not fit with one more tag.
      expect(Buffer.byteLength(run.lastLine)).toBeGreaterThan(3000);
    });
  });
});
