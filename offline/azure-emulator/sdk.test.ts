/**
 * Fidelity: Microsoft's own clients (@azure/identity's ManagedIdentityCredential over
 * @azure/msal-node, @azure/arm-resources' ResourceManagementClient, @azure-rest/core-client)
 * work against the emulator exactly as they do against IMDS and ARM, in a separate node process
 * that can reach nothing but loopback (offline/azure-emulator/netGuard.cjs).
 *
 * How the child finds the emulator — no code changes, only the SDK's own knobs:
 * - AZURE_POD_IDENTITY_AUTHORITY_HOST: @azure/msal-node 7's Imds source (used by
 *   @azure/identity 4.14's ManagedIdentityCredential) builds its token URL as
 *   `${AZURE_POD_IDENTITY_AUTHORITY_HOST}/metadata/identity/oauth2/token`, so the value is the
 *   bare origin, without a trailing slash; @azure/identity then also skips its IMDS "ping".
 * - NODE_EXTRA_CA_CERTS: trusts the emulator's self-signed certificate for https://localhost.
 *   (The ARM client's bearer-token policy refuses non-TLS URLs, hence the HTTPS listener.)
 * - ResourceManagementClient's `endpoint` option; its token scope stays
 *   https://management.azure.com/.default.
 */
import { fork } from "node:child_process";
import { join } from "node:path";

import { AzureEmulator, READER_ROLE_ID } from ".";

const SUB = "5e5e5e5e-1111-2222-3333-444444444444";
const TENANT = "7a7a7a7a-1111-2222-3333-444444444444";
const PRINCIPAL = "0b0b0b0b-1111-2222-3333-444444444444";
const CLIENT = "0c0c0c0c-1111-2222-3333-444444444444";
const VM_ID = `/subscriptions/${SUB}/resourcegroups/rg-lab/providers/Microsoft.Compute/virtualMachines/vm-lab`;
const RBAC_DELAY_MS = 900;

interface ChildRun {
  code: number | null;
  stderr: string;
  result: any;
  grantedAt: number | null;
}

function runChild(emu: AzureEmulator, onTokenReady: () => void): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = fork(join(__dirname, "sdkProbe.cjs"), [], {
      cwd: join(__dirname, "..", ".."),
      execArgv: ["--require", join(__dirname, "netGuard.cjs")],
      // A clean environment: no proxies, no other managed-identity sources, no NODE_OPTIONS.
      env: {
        PATH: process.env.PATH ?? "",
        NODE_EXTRA_CA_CERTS: emu.caCertPath,
        AZURE_POD_IDENTITY_AUTHORITY_HOST: emu.imdsUrl,
        EMU_SUBSCRIPTION_ID: SUB,
        EMU_ARM_URL: emu.armHttpsUrl,
        EMU_RG: "rg-lab",
        EMU_MISSING_RG: "rg-missing",
        EMU_POLL_MS: "100",
        EMU_DEADLINE_MS: "8000",
      },
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    let stdout = "";
    let stderr = "";
    let grantedAt: number | null = null;
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    child.on("message", (m: { type?: string }) => {
      if (m?.type === "token-ready") {
        grantedAt = Date.now();
        onTokenReady();
        child.send({ type: "granted" });
      }
    });
    const killer = setTimeout(() => child.kill("SIGKILL"), 25_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(killer);
      const last = stdout.trim().split("\n").pop() ?? "";
      let result: unknown = null;
      try {
        result = JSON.parse(last);
      } catch {
        /* reported below */
      }
      resolve({ code, stderr, result, grantedAt });
    });
  });
}

describe("AzureEmulator fidelity with Microsoft's SDK clients", () => {
  const emu = new AzureEmulator({ tenantId: TENANT, subscriptionId: SUB });
  let run: ChildRun;
  let assignmentId = "";

  beforeAll(async () => {
    await emu.start();
    emu.setVmIdentity({ principalId: PRINCIPAL, clientId: CLIENT, resourceId: VM_ID });
    emu.addResourceGroup({ name: "rg-lab", location: "westeurope", tags: { project: "identity-lab", owner: "lead" } });
    // IMDS "is updating" once (how-to-use-vm-token.md: 404 -> retry with backoff): the SDK must retry.
    emu.injectFaults("imds", { status: 404 });
    // ARM throttles the permissions read once: the SDK must honour Retry-After.
    emu.injectFaults("permissions", { status: 429, headers: { "Retry-After": "1" } });
    run = await runChild(emu, () => {
      assignmentId = emu.assignRole({
        scope: `/subscriptions/${SUB}`,
        roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${READER_ROLE_ID}`,
        principalId: PRINCIPAL,
        effectiveAfterMs: RBAC_DELAY_MS,
      });
    });
  }, 40_000);
  afterAll(() => emu.stop());

  it("the child ran to the end and printed its JSON", () => {
    expect({ code: run.code, stderr: run.stderr, error: run.result?.error ?? null }).toEqual({ code: 0, stderr: "", error: null });
    expect(run.result.steps).toEqual(["guard", "token", "granted", "resourceGroup", "missing", "permissions"]);
    expect(run.result.ok).toBe(true);
  });

  it("the child could reach nothing but the emulator on loopback", () => {
    const net = run.result.net;
    expect(net).not.toBeNull();
    // the guard is live: its self-test to a non-loopback name was refused before DNS
    expect(run.result.guardSelfTest).toEqual({ refused: true, code: "EBLOCKED_BY_TEST" });
    expect(net.blocked).toEqual([{ host: "guard-selftest.invalid", port: 443 }]);
    expect(net.lookups.filter((h: string) => h !== "localhost")).toEqual([]);
    const ports = new Set([emu.imdsUrl, emu.armHttpsUrl].map((u) => Number(new URL(u).port)));
    const sdkConnections = net.connections.filter((c: { host?: string }) => c.host !== "guard-selftest.invalid");
    expect(sdkConnections.length).toBeGreaterThanOrEqual(2);
    for (const c of sdkConnections) {
      expect(["127.0.0.1", "localhost"]).toContain(c.host);
      expect(ports.has(c.port)).toBe(true);
    }
  });

  it("ManagedIdentityCredential got an ARM token from the emulated IMDS, retrying its 404", () => {
    const t = run.result.token;
    expect(t.tokenType).toBe("Bearer");
    expect(t.claims).toMatchObject({
      aud: "https://management.azure.com", // the SDK strips "/.default" and sends no trailing slash
      iss: `https://sts.windows.net/${TENANT}/`,
      tid: TENANT,
      oid: PRINCIPAL,
      sub: PRINCIPAL,
      appid: CLIENT,
      idtyp: "app",
      xms_mirid: VM_ID,
    });
    expect(Math.abs(t.expiresOnTimestamp - t.claims.exp * 1000)).toBeLessThan(2000);
    expect(t.secondCallSameToken).toBe(true);
    const imds = emu.requests.filter((r) => r.endpoint === "imds");
    // one injected 404, one retry that succeeded; the second getToken came from MSAL's cache
    expect(imds.map((r) => [r.status, r.faulted])).toEqual([
      [404, true],
      [200, false],
    ]);
    for (const r of imds) {
      expect(r.method).toBe("GET");
      expect(r.query).toEqual({ "api-version": "2018-02-01", resource: "https://management.azure.com" });
    }
    // @azure/identity backs off 404s from 800 ms with jitter (core-util calculateRetryDelay: 400..800 ms)
    expect(imds[1].atMs - imds[0].atMs).toBeGreaterThanOrEqual(350);
  });

  it("ResourceManagementClient got RestError 403 AuthorizationFailed while the assignment propagated, then the group", () => {
    const attempts = run.result.delay.attempts;
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    const denied = attempts.slice(0, -1);
    for (const a of denied) {
      expect(a).toMatchObject({ name: "RestError", code: "AuthorizationFailed", statusCode: 403 });
      expect(a.message).toContain(
        `does not have authorization to perform action 'Microsoft.Resources/subscriptions/resourceGroups/read' over scope '/subscriptions/${SUB}/resourceGroups/rg-lab'`,
      );
    }
    expect(attempts.at(-1)).toEqual({ ok: true });
    expect(run.result.resourceGroup).toEqual({
      id: `/subscriptions/${SUB}/resourceGroups/rg-lab`,
      name: "rg-lab",
      type: "Microsoft.Resources/resourceGroups",
      location: "westeurope",
      tags: { project: "identity-lab", owner: "lead" },
      provisioningState: "Succeeded",
    });
    // the emulator saw the 403s only before the assignment took effect, the 200 after
    const [assignment] = emu.listRoleAssignments();
    expect(assignment.id).toBe(assignmentId);
    const rgReads = emu.requests.filter((r) => r.endpoint === "resourceGroup" && r.path.endsWith("/rg-lab"));
    expect(rgReads.map((r) => r.status)).toEqual([...denied.map(() => 403), 200]);
    for (const r of rgReads) {
      expect(r.server).toBe("arm-https");
      expect(r.callerObjectId).toBe(PRINCIPAL);
      expect(r.query["api-version"]).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
    const effectiveAtMs = assignment.effectiveAt - emu.startedAtMs;
    for (const r of rgReads.slice(0, -1)) expect(r.atMs).toBeLessThan(effectiveAtMs);
    expect(rgReads.at(-1)!.atMs).toBeGreaterThanOrEqual(effectiveAtMs);
    // the assignment was created when the child asked for it, i.e. right before its first read
    const lag = assignment.effectiveAt - RBAC_DELAY_MS - run.grantedAt!;
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(200);
  });

  it("a missing group is RestError 404 ResourceGroupNotFound", () => {
    expect(run.result.missing).toMatchObject({
      name: "RestError",
      code: "ResourceGroupNotFound",
      statusCode: 404,
      message: "Resource group 'rg-missing' could not be found.",
    });
  });

  it("the REST client read the caller's permissions, honouring ARM's 429 Retry-After", () => {
    expect(run.result.permissions).toEqual({
      status: "200",
      body: { value: [{ actions: ["*/read"], notActions: [], dataActions: [], notDataActions: [] }] },
    });
    const perms = emu.requests.filter((r) => r.endpoint === "permissions");
    expect(perms.map((r) => r.status)).toEqual([429, 200]);
    expect(perms[1].atMs - perms[0].atMs).toBeGreaterThanOrEqual(900);
  });
});
