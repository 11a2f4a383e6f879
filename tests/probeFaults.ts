/**
 * probe/contract.md's cause table, row by row, as one table that every probe runs: the PowerShell
 * probe (tests/pwsh/probe.causes.test.ts) and the POSIX sh probe under dash and busybox sh
 * (tests/sh/probe.sh.test.ts). Each failure is made real against the emulator, and the report is
 * read back the way the program reads it (probe/report.ts), so what is checked is the cause and next
 * step a person would see. Time is compressed through the probe's parameters (-FaultBudgetSeconds
 * above all). A runner gets the lab, the parameters over the fast timing of tests/pwsh/probeLab.ts
 * (deadline 8 s, backoff 0.05 s, cap 0.2 s), and environment seams over the lab's IMDS and ARM URLs.
 */
import { armClaimsChallenge } from "../offline/azure-emulator/errors";
import { READER_ROLE_ID, type Fault } from "../offline/azure-emulator";
import type { ProbeRun } from "../offline/pwsh";
import { expectContract, leaksToken, outcomeOf, requests, RG, until, withLab, type Lab } from "./pwsh/probeLab";

export type ProbeRunner = (lab: Lab, params?: Record<string, string | number>, env?: Record<string, string>) => Promise<ProbeRun>;

const QUICK = { DeadlineSeconds: 30, FaultBudgetSeconds: 0.5 };
const many = (f: Fault, n = 60): Fault[] => Array.from({ length: n }, () => ({ ...f }));

function failed(o: ReturnType<typeof outcomeOf>): { cause: string; nextStep: string } {
  if (o.status !== "failed") throw new Error(`expected a failed outcome, got ${o.status}: ${JSON.stringify(o)}`);
  return o;
}

/** Registers the table's cases (inside the caller's describe) for one probe. */
export function probeFaultTable(runner: ProbeRunner): void {
  test.concurrent("RBAC not propagated yet: 403s are waited out, and the outcome is success", async () => {
    await withLab({ role: "none" }, async (lab) => {
      const running = runner(lab, QUICK);
      // Counted from the probe's first ARM call, whatever pwsh's start-up took.
      await until(() => requests(lab, "resourceGroup").length > 0);
      lab.emu.assignRole({
        scope: lab.scope,
        roleDefinitionId: READER_ROLE_ID,
        principalId: lab.emu.vmIdentity!.principalId,
        effectiveAfterMs: 1000,
      });
      const run = await running;
      expectContract(run);
      const o = outcomeOf(run, lab);
      expect(o.status).toBe("succeeded");
      expect(requests(lab, "resourceGroup").filter((q) => q.status === 403).length).toBeGreaterThan(1);
    });
  });

  test.concurrent("wrong scope (no read on the group) for the whole deadline: AuthorizationFailed, check the assignment", async () => {
    await withLab({ role: "none" }, async (lab) => {
      lab.emu.assignRole({
        scope: `/subscriptions/${lab.emu.subscriptionId}/resourceGroups/some-other-rg`,
        roleDefinitionId: READER_ROLE_ID,
        principalId: lab.emu.vmIdentity!.principalId,
      });
      // 403 earns the whole deadline (3 s, ten times the 0.3 s fault budget), not the fault budget.
      const run = await runner(lab, { DeadlineSeconds: 3, FaultBudgetSeconds: 0.3 });
      const r = expectContract(run);
      expect(r.error).toMatchObject({ phase: "resourceGroup", status: 403, code: "AuthorizationFailed" });
      expect(r.elapsedSeconds).toBeGreaterThan(2.5);
      const o = failed(outcomeOf(run, lab));
      expect(o.cause).toMatch(/kept refusing identity .* the whole deadline/);
      expect(o.nextStep).toMatch(/az role assignment list .*raise probeDeadlineSeconds/);
    });
  });

  test.concurrent("IMDS unreachable: ConnectionFailed within the fault budget; check the VM agent and the route", async () => {
    await withLab({}, async (lab) => {
      // Nothing listens on port 9 (discard) of 127.0.0.1 here: the connection is refused.
      const run = await runner(lab, QUICK, { IDENTITYLAB_IMDS_ENDPOINT: "http://127.0.0.1:9" });
      const r = expectContract(run);
      expect(r.error).toMatchObject({ phase: "imds", status: null, code: "ConnectionFailed" });
      // Ended by the fault budget, not the 30 s deadline (generous: the CI machine may be busy).
      expect(r.elapsedSeconds).toBeLessThan(15);
      const o = failed(outcomeOf(run, lab));
      expect(o.cause).toMatch(/could not reach IMDS/);
      expect(o.nextStep).toMatch(/169\.254\.169\.254/);
    });
  });

  test.concurrent("IMDS 200 without an access_token: NoAccessToken, not a network or RBAC story", async () => {
    const body = JSON.stringify({ expires_on: "1999999999", resource: "https://management.azure.com/", token_type: "Bearer" });
    await withLab({ faults: { imds: many({ body }) } }, async (lab) => {
      const run = await runner(lab, QUICK);
      expect(expectContract(run).error).toMatchObject({ phase: "imds", status: 200, code: "NoAccessToken" });
      expect(requests(lab, "resourceGroup")).toHaveLength(0);
      const o = failed(outcomeOf(run, lab));
      expect(o.cause).toMatch(/without an access_token/);
      expect(o.cause).not.toMatch(/RBAC|reach ARM/);
    });
  });

  test.concurrent("an opaque (non-JWT) token: OpaqueToken, and the token is never sent to ARM", async () => {
    const body = JSON.stringify({ access_token: "0.AAAA-opaque-token-value", expires_on: "1999999999", token_type: "Bearer" });
    await withLab({ faults: { imds: many({ body }) } }, async (lab) => {
      const run = await runner(lab, QUICK);
      expect(expectContract(run).error).toMatchObject({ phase: "imds", status: 200, code: "OpaqueToken" });
      expect(requests(lab, "resourceGroup")).toHaveLength(0);
      expect(failed(outcomeOf(run, lab)).cause).toMatch(/not a JWT/);
    });
  });

  test.concurrent("wrong-cloud audience (AADSTS500011 in IMDS's 400): the cloud setting, at once", async () => {
    await withLab({}, async (lab) => {
      // The tenant knows only another cloud's ARM: the public cloud's audience is unknown to it.
      lab.emu.setTokenResources(["https://management.usgovcloudapi.net/"]);
      try {
        const run = await runner(lab, QUICK);
        const r = expectContract(run);
        expect(r.error).toMatchObject({ phase: "imds", status: 400, code: "invalid_resource" });
        expect(r.error.message).toMatch(/^AADSTS500011/);
        expect(r.attempts.imds).toBe(1);
        const o = failed(outcomeOf(run, lab));
        expect(o.cause).toMatch(/does not know the ARM endpoint/);
        expect(o.nextStep).toMatch(/cloud setting/);
      } finally {
        lab.emu.setTokenResources(null);
      }
    });
  });

  test.concurrent("a CAE claims challenge on a 401: ClaimsChallenge, at once, not RBAC", async () => {
    const { status, headers, body } = armClaimsChallenge();
    await withLab({ faults: { resourceGroup: many({ status, headers, body }) } }, async (lab) => {
      const run = await runner(lab, QUICK);
      const r = expectContract(run);
      expect(r.error).toMatchObject({ phase: "resourceGroup", status: 401, code: "ClaimsChallenge" });
      expect(r.attempts.resourceGroup).toBe(1);
      const o = failed(outcomeOf(run, lab));
      expect(o.cause).toMatch(/claims challenge/);
      expect(o.cause).not.toMatch(/RBAC/);
      expect(o.nextStep).toMatch(/Conditional Access/);
    });
  });

  test.concurrent("429 with a Retry-After beyond the deadline: throttled, wait and rerun", async () => {
    await withLab({ faults: { resourceGroup: [{ status: 429, headers: { "Retry-After": "3600" } }] } }, async (lab) => {
      const run = await runner(lab, QUICK);
      const r = expectContract(run);
      expect(r.error).toMatchObject({ phase: "resourceGroup", status: 429, code: "SubscriptionRequestsThrottled" });
      expect(r.attempts.resourceGroup).toBe(1);
      const o = failed(outcomeOf(run, lab));
      expect(o.cause).toMatch(/throttled/);
      expect(o.nextStep).toMatch(/wait until the throttling window/);
      expect(o.nextStep).not.toMatch(/look at/);
    });
  });

  test.concurrent("repeated 5xx: reported within the fault budget as Azure's fault", async () => {
    await withLab({ faults: { resourceGroup: many({ status: 503 }) } }, async (lab) => {
      const run = await runner(lab, QUICK);
      const r = expectContract(run);
      expect(r.error).toMatchObject({ phase: "resourceGroup", status: 503 });
      // Ended by the fault budget, not the 30 s deadline (generous: the CI machine may be busy).
      expect(r.elapsedSeconds).toBeLessThan(15);
      const o = failed(outcomeOf(run, lab));
      expect(o.cause).toMatch(/kept failing .*retry budget/);
      expect(o.nextStep).toMatch(/Service Health/);
    });
  });

  test.concurrent("a malformed 200: MalformedResponse within the fault budget, something in the path", async () => {
    await withLab({ faults: { resourceGroup: many({ malformed: true }) } }, async (lab) => {
      const run = await runner(lab, QUICK);
      const r = expectContract(run);
      expect(r.error).toMatchObject({ phase: "resourceGroup", status: 200, code: "MalformedResponse" });
      // Ended by the fault budget, not the 30 s deadline (generous: the CI machine may be busy).
      expect(r.elapsedSeconds).toBeLessThan(15);
      const o = failed(outcomeOf(run, lab));
      expect(o.cause).toMatch(/not readable JSON/);
      expect(o.nextStep).toMatch(/proxy/);
    });
  });

  test.concurrent("an endless ARM body: ResponseTooLarge at once, after reading about 1 MiB", async () => {
    await withLab({ faults: { resourceGroup: many({ endless: true }) } }, async (lab) => {
      const run = await runner(lab, QUICK);
      const r = expectContract(run);
      expect(r.error).toMatchObject({ phase: "resourceGroup", status: 200, code: "ResponseTooLarge" });
      expect(r.attempts.resourceGroup).toBe(1);
      expect(failed(outcomeOf(run, lab)).cause).toMatch(/larger than the probe reads/);
    });
  });

  test.concurrent("an endless IMDS body: ResponseTooLarge at 64 KiB", async () => {
    await withLab({ faults: { imds: many({ endless: true }) } }, async (lab) => {
      const r = expectContract(await runner(lab, QUICK));
      expect(r.error).toMatchObject({ phase: "imds", status: 200, code: "ResponseTooLarge", message: "over 65536 bytes" });
    });
  });

  test.concurrent("a trickling body: SlowResponse when the request's time is up, within the fault budget", async () => {
    await withLab({ faults: { permissions: many({ trickle: true, delayMs: 50 }) } }, async (lab) => {
      const run = await runner(lab, { ...QUICK, RequestTimeoutSeconds: 2 });
      const r = expectContract(run);
      expect(r.error).toMatchObject({ phase: "permissions", status: 200, code: "SlowResponse" });
      expect(r.elapsedSeconds).toBeLessThan(15);
      expect(failed(outcomeOf(run, lab)).cause).toMatch(/did not arrive in time/);
    });
  });

  test.concurrent.each([
    ["an ARM error envelope", (_id: string) => JSON.stringify({ error: { code: "Oops", message: "not a group" } })],
    ["an empty object", () => "{}"],
    ["a JSON string", () => JSON.stringify("/subscriptions/x/resourceGroups/rg")],
    [
      "another resource group's body",
      (id: string) =>
        JSON.stringify({ id: id.replace(/[^/]+$/, "other-rg"), name: "other-rg", properties: { provisioningState: "Succeeded" } }),
    ],
    ["the group without a provisioningState", (id: string) => JSON.stringify({ id, name: RG, location: "westus" })],
  ])("UnexpectedResponse for a resource-group 200 holding %s", async (_what, make) => {
    await withLab({}, async (lab) => {
      lab.emu.injectFaults("resourceGroup", ...many({ body: make(lab.scope) }));
      const run = await runner(lab, QUICK);
      const r = expectContract(run);
      expect(r.ok).toBe(false);
      expect(r.error).toMatchObject({ phase: "resourceGroup", status: 200, code: "UnexpectedResponse" });
      expect(r.attempts.resourceGroup).toBe(1);
      expect(r.resourceGroup).toBeNull();
      expect(failed(outcomeOf(run, lab)).cause).toMatch(/not with what was asked for/);
    });
  });

  test.concurrent.each([
    ["{}", "{}"],
    ["a value that is not a list", '{"value":{"actions":["*/read"]}}'],
    ["an entry without actions", '{"value":[{"notActions":[]}]}'],
    ["actions that are not strings", '{"value":[{"actions":[1,null],"notActions":[]}]}'],
    ["dataActions that are not a list", '{"value":[{"actions":["*/read"],"notActions":[],"dataActions":"*"}]}'],
  ])("UnexpectedResponse for a permissions 200 holding %s", async (_what, body) => {
    await withLab({ faults: { permissions: many({ body }) } }, async (lab) => {
      const run = await runner(lab, QUICK);
      const r = expectContract(run);
      expect(r.error).toMatchObject({ phase: "permissions", status: 200, code: "UnexpectedResponse" });
      expect(r.permissions).toBeNull();
      expect(failed(outcomeOf(run, lab)).cause).toMatch(/not with what was asked for/);
    });
  });

  test.concurrent("token-like text in an ARM error message is scrubbed from the report and the cause", async () => {
    await withLab({}, async (lab) => {
      const token = lab.emu.mintAccessToken();
      const message = `Bad request for token ${token} (and a piece: ${token.split(".")[1].slice(0, 40)})`;
      lab.emu.injectFaults("resourceGroup", { status: 400, body: JSON.stringify({ error: { code: "BadRequest", message } }) });
      const run = await runner(lab, QUICK);
      const r = expectContract(run);
      expect(r.error.message).toMatch(/^Bad request for token \[redacted\]/);
      const o = failed(outcomeOf(run, lab));
      expect(leaksToken(o.cause) || leaksToken(o.nextStep)).toBe(false);
      expect(o.cause).toMatch(/\[redacted\]/);
    });
  });

  test.concurrent("an ARM error message with quotes, a backslash and non-ASCII text stays one valid, ASCII report", async () => {
    await withLab({}, async (lab) => {
      const message = 'Role "Reader" is missing at C:\\x (r\u00e9sum\u00e9)';
      lab.emu.injectFaults("resourceGroup", { status: 400, body: JSON.stringify({ error: { code: "BadRequest", message } }) });
      const r = expectContract(await runner(lab, QUICK));
      expect(r.error).toMatchObject({ phase: "resourceGroup", status: 400, code: "BadRequest", message });
    });
  });

  test.concurrent("tag names that differ only in case (a body Azure would not send) still read, as one tag", async () => {
    await withLab({}, async (lab) => {
      const body = JSON.stringify({
        id: lab.scope,
        name: RG,
        location: "westus",
        tags: { Env: "a" },
        properties: { provisioningState: "Succeeded" },
      }).replace('"Env":"a"', '"Env":"a","env":"b"');
      lab.emu.injectFaults("resourceGroup", { body });
      const run = await runner(lab, QUICK);
      const r = expectContract(run);
      expect(r.ok).toBe(true);
      // One tag, the last value; which spelling survives is not promised (Azure may keep either).
      expect(Object.keys(r.resourceGroup.tags).map((k) => k.toLowerCase())).toEqual(["env"]);
      expect(Object.values(r.resourceGroup.tags)).toEqual(["b"]);
      expect(r.attempts.resourceGroup).toBe(1);
    });
  });

  // Servers that keep the published contracts in other ways than the emulator does.
  test.concurrent("a 200 whose JSON escapes '/' and letters (\\/, \\u0072) is the same answer: success", async () => {
    await withLab({}, async (lab) => {
      const body = JSON.stringify({ id: lab.scope, name: RG, location: "westus", properties: { provisioningState: "Succeeded" } })
        .replace(/\//g, "\\/")
        .replace(`"name":"${RG}"`, `"name":"\\u0072${RG.slice(1)}"`);
      lab.emu.injectFaults("resourceGroup", { body });
      const r = expectContract(await runner(lab, QUICK));
      expect(r.error).toBeNull();
      expect(r.ok).toBe(true);
      expect(r.resourceGroup.id).toBe(lab.scope);
      expect(r.attempts.resourceGroup).toBe(1);
    });
  });

  test.concurrent("an error message cut at the report's limit inside a multibyte character: the report is still JSON", async () => {
    await withLab({}, async (lab) => {
      // 299 ASCII bytes, then two-byte characters: a cut at 300 bytes falls inside the first one.
      const message = "x".repeat(299) + "\u00e9".repeat(40);
      lab.emu.injectFaults("resourceGroup", { status: 400, body: JSON.stringify({ error: { code: "BadRequest", message } }) });
      const r = expectContract(await runner(lab, QUICK));
      expect(r.error).toMatchObject({ phase: "resourceGroup", status: 400, code: "BadRequest" });
      expect(r.error.message.startsWith("x".repeat(299))).toBe(true);
      // Past the x's: whole characters of the message, or U+FFFD where a character was cut.
      expect(r.error.message.slice(299)).toMatch(/^[\u00e9\ufffd]*$/);
      expect(r.error.requestId).toMatch(/^[0-9a-f-]{36}$/);
    });
  });

  test.concurrent("ARM 429 with Retry-After as an HTTP date (IMF-fixdate): the next request waits for that time", async () => {
    await withLab({}, async (lab) => {
      // A whole-second date 4 s away, so the header's 1 s resolution and a slow start leave it in the future.
      const retryAt = new Date(Math.ceil((Date.now() + 4000) / 1000) * 1000);
      lab.emu.injectFaults("resourceGroup", { status: 429, headers: { "Retry-After": retryAt.toUTCString() } });
      const r = expectContract(await runner(lab, QUICK));
      expect(r.ok).toBe(true);
      const rg = requests(lab, "resourceGroup");
      expect(rg.map((q) => q.status)).toEqual([429, 200]);
      expect(lab.t0 + rg[1].atMs).toBeGreaterThanOrEqual(retryAt.getTime() - 20);
    });
  });

  test.concurrent("a body cut short of its Content-Length: ConnectionFailed with the status, retried within the fault budget", async () => {
    await withLab({ faults: { resourceGroup: many({ cut: true }) } }, async (lab) => {
      const r = expectContract(await runner(lab, QUICK));
      // Not SlowResponse: the answer did not run out of time, the connection ended it.
      expect(r.error).toMatchObject({ phase: "resourceGroup", status: 200, code: "ConnectionFailed" });
      expect(r.attempts.resourceGroup).toBeGreaterThan(1);
      expect(r.elapsedSeconds).toBeLessThan(15);
    });
  });

  test.concurrent("an IMDS that sends x-ms-request-id: requestId stays null for IMDS, as the contract says", async () => {
    const fault = { status: 500, headers: { "x-ms-request-id": "0f0e0d0c-0b0a-4909-8807-060504030201" } };
    await withLab({ faults: { imds: many(fault) } }, async (lab) => {
      const r = expectContract(await runner(lab, QUICK));
      expect(r.error).toMatchObject({ phase: "imds", status: 500, requestId: null });
    });
  });
}
