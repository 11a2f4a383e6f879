/**
 * A local emulator of the two Azure endpoints that Microsoft's tutorial
 * "Use a Windows VM system-assigned managed identity to access Resource Manager"
 * (https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/tutorial-windows-vm-access-arm)
 * talks to:
 *
 * 1. IMDS's managed-identity token endpoint, `GET /metadata/identity/oauth2/token`
 *    (MicrosoftDocs/entra-docs docs/identity/managed-identities-azure-resources/how-to-use-vm-token.md,
 *    "Get a token using HTTP"; request rules from MicrosoftDocs/azure-docs
 *    articles/virtual-machines/instance-metadata-service.md, "Security and authentication":
 *    requests must carry `Metadata: true` and must not carry `X-Forwarded-For`; duplicate query
 *    parameter names are rejected; api-version is mandatory).
 * 2. Azure Resource Manager: ResourceGroups_Get
 *    (`GET /subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}`, azure-rest-api-specs
 *    specification/resources/resource-manager/Microsoft.Resources/stable/2022-09-01/resources.json;
 *    body shape from .../2022-09-01/examples/CreateResourceGroup.json) and Permissions_ListForResourceGroup
 *    (`GET /subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}/providers/Microsoft.Authorization/permissions`,
 *    specification/authorization/resource-manager/Microsoft.Authorization/stable/2015-07-01/examples/GetPermissions.json
 *    and .../preview/2022-05-01-preview/examples/GetResourcePermissions.json: `{"value":[{"actions":[],"notActions":[]}]}`),
 *    with ARM's bearer-token checks and Azure RBAC (see rbac.ts, errors.ts).
 *
 * Everything binds 127.0.0.1. ARM is served twice with identical behaviour: plain HTTP (for the
 * PowerShell probe's test seam) and HTTPS with a throwaway certificate (Microsoft's SDK refuses to
 * send a bearer token over plain HTTP).
 *
 * Deliberate differences from Azure, for fast deterministic tests:
 * - ARM applies no clock-skew allowance to `exp` (Azure tolerates ~5 minutes), so a short
 *   `tokenLifetimeSeconds` expires when it says.
 * - No automatic throttling: 429s come only from injected faults; the
 *   x-ms-ratelimit-remaining-subscription-reads header follows ARM's documented token bucket
 *   (250 reads, refilled at 25/s) but nothing is refused when it runs dry.
 * - RBAC propagation delay is explicit (`effectiveAfterMs`), not random.
 */
import { generateKeyPair, KeyObject, randomUUID } from "node:crypto";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo, Socket } from "node:net";

import {
  arm,
  armFaultBody,
  DEFAULT_ARM_AUDIENCES,
  IMDS_IDENTITY_API_VERSIONS,
  IMDS_IDENTITY_NOT_FOUND,
  IMDS_METADATA_HEADER_REQUIRED,
  IMDS_RESOURCE_REQUIRED,
  imdsApiVersionError,
  imdsFaultBody,
  imdsResourceNotFound,
} from "./errors";
import { decodeJwt, keyId, opaque, signJwt, verifyJwtSignature, type JwtClaims } from "./jwt";
import { BUILT_IN_ROLES, normalizeScope, RESOURCE_GROUP_READ, roleGrants, scopeCovers, type RoleDefinition } from "./rbac";
import { makeLocalhostCert, type TlsMaterial } from "./tls";

export type Endpoint = "imds" | "resourceGroup" | "permissions";

export interface Fault {
  /** Answer with this status and an Azure-shaped error body for that endpoint (unless `body` is given). */
  status?: number;
  /** Extra response headers, e.g. {"Retry-After": "2"}. */
  headers?: Record<string, string>;
  /** Raw body instead of the default error body (status defaults to 200 when only `body` is given). */
  body?: string;
  /** Wait this long before answering; alone, the normal answer follows the delay. */
  delayMs?: number;
  /** Destroy the socket (TCP RST where the platform allows), no response. */
  reset?: boolean;
  /** Never answer (until stop()). */
  hang?: boolean;
  /** 200 with invalid (truncated) JSON. */
  malformed?: boolean;
  /** 200 whose chunked body never ends, sent as fast as the client reads (a runaway proxy or server). */
  endless?: boolean;
  /** 200 whose body trickles: one byte every `delayMs` (default 200 ms), never complete. */
  trickle?: boolean;
}

export interface RecordedRequest {
  endpoint: Endpoint | "other";
  method: string;
  /** URL path without the query string. */
  path: string;
  /** Query parameters (last value wins for repeated names). */
  query: Record<string, string>;
  /** Status sent, null when none was (reset, hang, client gone). */
  status: number | null;
  /** Milliseconds since start(). */
  atMs: number;
  faulted: boolean;
  /** Which listener got it. */
  server: "imds" | "arm-http" | "arm-https";
  /** The fault kind applied, when faulted. */
  fault?: "status" | "body" | "delay" | "reset" | "hang" | "malformed" | "endless" | "trickle";
  /** ARM only: the `oid` of a token that passed verification (never the token itself). */
  callerObjectId?: string;
}

export interface EmulatorOptions {
  tenantId?: string;
  subscriptionId?: string;
  /** Lifetime of IMDS-issued tokens; default 86399 like IMDS. */
  tokenLifetimeSeconds?: number;
  /** Audiences ARM accepts; default ARM's four. */
  armAudiences?: string[];
  /** The openssl CLI used for the throwaway certificate; default "openssl" from PATH. */
  openssl?: string;
}

export interface VmIdentity {
  principalId: string;
  clientId: string;
  resourceId: string;
}

export interface RoleAssignmentInfo {
  id: string;
  name: string;
  scope: string;
  roleDefinitionId: string;
  principalId: string;
  /** Epoch ms from which the assignment is honoured. */
  effectiveAt: number;
}

export interface MintTokenOptions {
  audience?: string;
  /** Seconds until `exp`; negative makes an already-expired token. */
  lifetimeSeconds?: number;
  principalId?: string;
  clientId?: string;
  resourceId?: string;
  tenantId?: string;
  /** Claims to add or override. */
  extraClaims?: JwtClaims;
}

interface ResourceGroupRecord {
  subscriptionId: string;
  name: string;
  location: string;
  tags?: Record<string, string>;
}

type Route =
  | { endpoint: "resourceGroup"; subscriptionId: string; resourceGroup: string }
  | { endpoint: "permissions"; subscriptionId: string; resourceGroup: string }
  | { endpoint: "other" };

const IMDS_TOKEN_PATH = "/metadata/identity/oauth2/token";
const RG_ROUTE = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/?$/i;
const PERMISSIONS_ROUTE = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.authorization\/permissions\/?$/i;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** ARM's documented subscription read bucket (request-limits-and-throttling.md). */
const READ_BUCKET_SIZE = 250;
const READ_BUCKET_REFILL_PER_SEC = 25;

const certificates = new Map<string, Promise<TlsMaterial>>();

/**
 * The TLS certificate, made once per process (per openssl path) and shared by its
 * emulators: it costs an openssl process and an RSA-2048 key generation, and a suite or a
 * series of rehearsals starts dozens of emulators. Only the listener's certificate is
 * shared; each emulator still signs its tokens with its own key, so one emulator's token is
 * foreign to another. A failure is not kept: the next start tries again.
 */
function processCertificate(openssl: string): Promise<TlsMaterial> {
  let made = certificates.get(openssl);
  if (!made) {
    made = makeLocalhostCert(openssl).then((tls) => {
      process.once("exit", () => tls.dispose());
      return tls;
    });
    made.catch(() => certificates.delete(openssl));
    certificates.set(openssl, made);
  }
  return made;
}

export class AzureEmulator {
  readonly tenantId: string;
  readonly subscriptionId: string;
  readonly requests: RecordedRequest[] = [];

  private readonly tokenLifetimeSeconds: number;
  private readonly armAudiences: readonly string[];
  private readonly openssl: string;
  private identity: VmIdentity | null;
  private readonly resourceGroups = new Map<string, ResourceGroupRecord>();
  private readonly roleDefinitions = new Map<string, RoleDefinition>();
  private readonly assignments: RoleAssignmentInfo[] = [];
  private readonly faults: Record<Endpoint, Fault[]> = { imds: [], resourceGroup: [], permissions: [] };
  private readonly readBuckets = new Map<string, { tokens: number; at: number }>();
  private tokenResources: readonly string[] | null = null;

  private started = false;
  private stopping: Promise<void> | null = null;
  private startedAt = 0;
  private privateKey: KeyObject | null = null;
  private publicKey: KeyObject | null = null;
  private kid = "";
  private tls: TlsMaterial | null = null;
  private servers: http.Server[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private urls: { imds: string; arm: string; armHttps: string } | null = null;

  constructor(options: EmulatorOptions = {}) {
    this.tenantId = options.tenantId ?? randomUUID();
    this.subscriptionId = options.subscriptionId ?? randomUUID();
    this.tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 86399;
    this.armAudiences = options.armAudiences ?? DEFAULT_ARM_AUDIENCES;
    this.openssl = options.openssl ?? "openssl";
    for (const role of BUILT_IN_ROLES) this.roleDefinitions.set(role.id.toLowerCase(), { ...role });
    this.identity = {
      principalId: randomUUID(),
      clientId: randomUUID(),
      resourceId: `/subscriptions/${this.subscriptionId}/resourceGroups/identity-lab-rg/providers/Microsoft.Compute/virtualMachines/identity-lab-vm`,
    };
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<void> {
    if (this.started) throw new Error("AzureEmulator already started");
    this.started = true;
    this.startedAt = Date.now();
    // Both off the event loop: other emulators in the same process keep serving meanwhile.
    const [keys, tls] = await Promise.all([
      new Promise<{ privateKey: KeyObject; publicKey: KeyObject }>((resolve, reject) =>
        generateKeyPair("rsa", { modulusLength: 2048 }, (err, publicKey, privateKey) =>
          err ? reject(err) : resolve({ privateKey, publicKey }),
        ),
      ),
      processCertificate(this.openssl),
    ]);
    this.privateKey = keys.privateKey;
    this.publicKey = keys.publicKey;
    this.kid = keyId(keys.publicKey);
    this.tls = tls;

    const imds = http.createServer((req, res) => this.handleImds(req, res));
    const armHttp = http.createServer((req, res) => this.handleArm(req, res, "arm-http"));
    const armHttps = https.createServer({ cert: this.tls.cert, key: this.tls.key }, (req, res) => this.handleArm(req, res, "arm-https"));
    this.servers = [imds, armHttp, armHttps];
    for (const server of this.servers) {
      server.on("connection", (socket: Socket) => {
        this.sockets.add(socket);
        socket.on("close", () => this.sockets.delete(socket));
      });
      server.on("clientError", (_err, socket) => socket.destroy());
    }
    const ports = await Promise.all(this.servers.map((s) => listen(s)));
    this.urls = {
      imds: `http://127.0.0.1:${ports[0]}`,
      arm: `http://127.0.0.1:${ports[1]}`,
      armHttps: `https://localhost:${ports[2]}`,
    };
  }

  /** Ends every open and hung request and closes the listeners (the certificate goes at process exit). Idempotent. */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        for (const t of this.timers) clearTimeout(t);
        this.timers.clear();
        for (const s of this.sockets) s.destroy();
        this.sockets.clear();
        await Promise.all(
          this.servers.map(
            (s) =>
              new Promise<void>((resolve) => {
                s.closeAllConnections();
                s.close(() => resolve());
              }),
          ),
        );
        this.servers = [];
      })();
    }
    return this.stopping;
  }

  get imdsUrl(): string {
    return this.requireStarted().imds;
  }
  get armUrl(): string {
    return this.requireStarted().arm;
  }
  get armHttpsUrl(): string {
    return this.requireStarted().armHttps;
  }
  get caCertPath(): string {
    this.requireStarted();
    return this.tls!.certPath;
  }
  /** Epoch ms of start(); RecordedRequest.atMs counts from here. */
  get startedAtMs(): number {
    this.requireStarted();
    return this.startedAt;
  }
  /** The system-assigned identity IMDS currently serves (null: none enabled). */
  get vmIdentity(): VmIdentity | null {
    return this.identity ? { ...this.identity } : null;
  }

  // ---------------------------------------------------------------- world state

  addResourceGroup(rg: { name: string; location: string; tags?: Record<string, string>; subscriptionId?: string }): string {
    const subscriptionId = rg.subscriptionId ?? this.subscriptionId;
    this.resourceGroups.set(rgKey(subscriptionId, rg.name), {
      subscriptionId,
      name: rg.name,
      location: rg.location,
      tags: rg.tags ? mergeTagNames(rg.tags) : undefined,
    });
    return rgId(subscriptionId, rg.name);
  }

  /**
   * Resources Entra ID knows in this tenant (null: any). IMDS answers any other `resource` with Entra's
   * AADSTS500011 (errors.ts imdsResourceNotFound), as it does for another cloud's ARM endpoint.
   */
  setTokenResources(resources: readonly string[] | null): void {
    this.tokenResources = resources ? [...resources] : null;
  }

  removeResourceGroup(name: string, subscriptionId?: string): void {
    this.resourceGroups.delete(rgKey(subscriptionId ?? this.subscriptionId, name));
  }

  setVmIdentity(id: { principalId: string; clientId?: string; resourceId: string } | null): void {
    this.identity = id ? { principalId: id.principalId, clientId: id.clientId ?? randomUUID(), resourceId: id.resourceId } : null;
  }

  addRoleDefinition(def: {
    id: string;
    roleName: string;
    actions: string[];
    notActions?: string[];
    dataActions?: string[];
    notDataActions?: string[];
  }): void {
    if (!GUID.test(def.id)) throw new Error(`role definition id must be a GUID, got '${def.id}'`);
    this.roleDefinitions.set(def.id.toLowerCase(), {
      id: def.id,
      roleName: def.roleName,
      actions: [...def.actions],
      notActions: [...(def.notActions ?? [])],
      dataActions: [...(def.dataActions ?? [])],
      notDataActions: [...(def.notDataActions ?? [])],
    });
  }

  assignRole(a: { scope: string; roleDefinitionId: string; principalId: string; effectiveAfterMs?: number; name?: string }): string {
    const guid = a.roleDefinitionId.split("/").filter(Boolean).pop() ?? "";
    if (!this.roleDefinitions.has(guid.toLowerCase())) throw new Error(`unknown role definition '${a.roleDefinitionId}'`);
    const scope = a.scope === "/" ? "/" : a.scope.replace(/\/+$/, "");
    const name = a.name ?? randomUUID();
    const subMatch = /^\/subscriptions\/([^/]+)/i.exec(scope);
    const info: RoleAssignmentInfo = {
      id: `${scope === "/" ? "" : scope}/providers/Microsoft.Authorization/roleAssignments/${name}`,
      name,
      scope,
      roleDefinitionId: `${subMatch ? `/subscriptions/${subMatch[1]}` : ""}/providers/Microsoft.Authorization/roleDefinitions/${guid}`,
      principalId: a.principalId,
      effectiveAt: Date.now() + (a.effectiveAfterMs ?? 0),
    };
    this.assignments.push(info);
    return info.id;
  }

  removeRoleAssignment(idOrName: string): void {
    const i = this.assignments.findIndex(
      (x) => x.id.toLowerCase() === idOrName.toLowerCase() || x.name.toLowerCase() === idOrName.toLowerCase(),
    );
    if (i < 0) throw new Error(`no role assignment '${idOrName}'`);
    this.assignments.splice(i, 1);
  }

  listRoleAssignments(): RoleAssignmentInfo[] {
    return this.assignments.map((x) => ({ ...x }));
  }

  injectFaults(endpoint: Endpoint, ...faults: Fault[]): void {
    if (!(endpoint in this.faults)) throw new Error(`unknown endpoint '${endpoint}'`);
    this.faults[endpoint].push(...faults.map((f) => ({ ...f })));
  }

  /** Faults not yet consumed for an endpoint. */
  pendingFaults(endpoint: Endpoint): number {
    return this.faults[endpoint].length;
  }

  clearFaults(): void {
    for (const k of Object.keys(this.faults) as Endpoint[]) this.faults[k] = [];
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  /**
   * Signs a token with the emulator's key, shaped like IMDS's (see jwt.ts). Tests use it to
   * present ARM with wrong-audience, expired or foreign-tenant tokens without waiting.
   */
  mintAccessToken(opts: MintTokenOptions = {}): string {
    if (!this.privateKey) throw new Error("AzureEmulator not started");
    const id = this.identity;
    const tenantId = opts.tenantId ?? this.tenantId;
    const principalId = opts.principalId ?? id?.principalId ?? randomUUID();
    const clientId = opts.clientId ?? id?.clientId ?? randomUUID();
    const resourceId = opts.resourceId ?? id?.resourceId ?? "";
    const now = Math.floor(Date.now() / 1000);
    const lifetime = opts.lifetimeSeconds ?? this.tokenLifetimeSeconds;
    const claims: JwtClaims = {
      aud: opts.audience ?? "https://management.azure.com/",
      iss: `https://sts.windows.net/${tenantId}/`,
      iat: Math.min(now, now + lifetime),
      nbf: Math.min(now, now + lifetime),
      exp: now + lifetime,
      aio: opaque(48),
      appid: clientId,
      appidacr: "2",
      idp: `https://sts.windows.net/${tenantId}/`,
      idtyp: "app",
      oid: principalId,
      rh: opaque(40),
      sub: principalId,
      tid: tenantId,
      uti: opaque(16),
      ver: "1.0",
      xms_mirid: resourceId,
      ...opts.extraClaims,
    };
    return signJwt(claims, this.privateKey, this.kid);
  }

  // ---------------------------------------------------------------- plumbing

  private requireStarted(): { imds: string; arm: string; armHttps: string } {
    if (!this.urls) throw new Error("AzureEmulator not started: await start() first");
    return this.urls;
  }

  private record(req: http.IncomingMessage, server: RecordedRequest["server"], endpoint: Endpoint | "other", url: URL): RecordedRequest {
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const rec: RecordedRequest = {
      endpoint,
      method: req.method ?? "GET",
      path: url.pathname,
      query,
      status: null,
      atMs: Date.now() - this.startedAt,
      faulted: false,
      server,
    };
    this.requests.push(rec);
    return rec;
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /**
   * Applies the next queued fault for `endpoint`, if any. Returns false when there is none,
   * in which case the caller answers normally.
   */
  private applyFault(
    endpoint: Endpoint,
    rec: RecordedRequest,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    send: (status: number, body: string, headers: Record<string, string>) => void,
    defaultBody: (status: number, headers: Record<string, string>) => string,
    normal: () => void,
  ): boolean {
    const fault = this.faults[endpoint].shift();
    if (!fault) return false;
    rec.faulted = true;
    rec.fault = fault.reset
      ? "reset"
      : fault.hang
        ? "hang"
        : fault.endless
          ? "endless"
          : fault.trickle
            ? "trickle"
            : fault.malformed
              ? "malformed"
              : fault.status !== undefined
                ? "status"
                : fault.body !== undefined
                  ? "body"
                  : "delay";
    const act = () => {
      if (fault.reset) {
        const socket = req.socket as Socket & { resetAndDestroy?: () => void };
        if (typeof socket.resetAndDestroy === "function") socket.resetAndDestroy();
        else socket.destroy();
        return;
      }
      if (fault.hang) return; // stop() destroys the socket
      const headers = { ...(fault.headers ?? {}) };
      if (fault.endless || fault.trickle) {
        rec.status = 200;
        streamForever(res, fault.trickle ? (fault.delayMs ?? 200) : 0, headers, (ms, fn) => this.later(ms, fn));
        return;
      }
      if (fault.malformed) {
        send(200, MALFORMED[endpoint], headers);
      } else if (fault.status !== undefined || fault.body !== undefined) {
        const status = fault.status ?? 200;
        send(status, fault.body ?? defaultBody(status, headers), headers);
      } else {
        normal();
      }
    };
    if (fault.delayMs && fault.delayMs > 0 && !fault.hang && !fault.trickle) this.later(fault.delayMs, act);
    else act();
    return true;
  }

  // ---------------------------------------------------------------- IMDS

  private handleImds(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    // @azure/msal-node 7 asks for ".../oauth2/token/" (trailing slash), which real IMDS serves too.
    const endpoint: Endpoint | "other" = url.pathname.toLowerCase().replace(/\/+$/, "") === IMDS_TOKEN_PATH ? "imds" : "other";
    const rec = this.record(req, "imds", endpoint, url);
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      rec.status = status;
      writeResponse(res, status, body, { "Content-Type": "application/json; charset=utf-8", ...headers });
    };
    const normal = () => this.answerImds(req, url, endpoint, send);
    if (endpoint === "imds" && this.applyFault("imds", rec, req, res, send, (s) => JSON.stringify(imdsFaultBody(s)), normal)) return;
    normal();
  }

  private answerImds(
    req: http.IncomingMessage,
    url: URL,
    endpoint: Endpoint | "other",
    send: (status: number, body: string, headers?: Record<string, string>) => void,
  ): void {
    const json = (status: number, body: unknown) => send(status, JSON.stringify(body));
    // instance-metadata-service.md: "Must contain the header Metadata: true; must not contain an
    // X-Forwarded-For header. Any request that does not meet both ... will be rejected."
    // IMDS doesn't document the body for the X-Forwarded-For rejection; we answer 400 in the
    // documented error shape.
    if (req.headers["x-forwarded-for"] !== undefined) {
      return json(400, { error: "invalid_request", error_description: "Request contains X-Forwarded-For header" });
    }
    // how-to-use-vm-token.md: "This value must be set to "true", in all lower case."
    if (req.headers["metadata"] !== "true") return json(400, IMDS_METADATA_HEADER_REQUIRED);
    if (endpoint !== "imds") return json(404, { error: "not_found", error_description: `The emulator serves only ${IMDS_TOKEN_PATH}` });
    if (req.method !== "GET") return json(405, { error: "invalid_request", error_description: "Only GET is supported" });
    const names = [...url.searchParams.keys()];
    if (new Set(names).size !== names.length) {
      // instance-metadata-service.md: "Requests with duplicate query parameter names will be rejected."
      return json(400, { error: "invalid_request", error_description: "Duplicate query parameter" });
    }
    const apiVersion = url.searchParams.get("api-version");
    if (!apiVersion) return json(400, imdsApiVersionError(true));
    if (!IMDS_IDENTITY_API_VERSIONS.includes(apiVersion)) return json(400, imdsApiVersionError(false));
    const resource = url.searchParams.get("resource");
    if (!resource) return json(400, IMDS_RESOURCE_REQUIRED);
    const id = this.identity;
    if (!id) return json(400, IMDS_IDENTITY_NOT_FOUND);
    if (this.tokenResources && !this.tokenResources.includes(resource)) return json(400, imdsResourceNotFound(resource, this.tenantId));
    // client_id / object_id / msi_res_id select a user-assigned identity; only this VM's
    // system-assigned one exists here, so they must name it (msi_res_id never can).
    const clientId = url.searchParams.get("client_id");
    const objectId = url.searchParams.get("object_id");
    const msiResId = url.searchParams.get("msi_res_id") ?? url.searchParams.get("mi_res_id");
    if (
      (clientId !== null && clientId.toLowerCase() !== id.clientId.toLowerCase()) ||
      (objectId !== null && objectId.toLowerCase() !== id.principalId.toLowerCase()) ||
      msiResId !== null
    ) {
      return json(400, IMDS_IDENTITY_NOT_FOUND);
    }
    const now = Math.floor(Date.now() / 1000);
    const lifetime = this.tokenLifetimeSeconds;
    const accessToken = this.mintAccessToken({ audience: resource });
    // how-to-use-vm-token.md "Sample response": every number is a string.
    json(200, {
      access_token: accessToken,
      refresh_token: "",
      expires_in: String(lifetime),
      expires_on: String(now + lifetime),
      ext_expires_in: String(lifetime),
      not_before: String(now),
      resource,
      token_type: "Bearer",
      client_id: id.clientId,
    });
  }

  // ---------------------------------------------------------------- ARM

  private route(pathname: string): Route {
    let m = PERMISSIONS_ROUTE.exec(pathname);
    if (m) return { endpoint: "permissions", subscriptionId: safeDecode(m[1]), resourceGroup: safeDecode(m[2]) };
    m = RG_ROUTE.exec(pathname);
    if (m) return { endpoint: "resourceGroup", subscriptionId: safeDecode(m[1]), resourceGroup: safeDecode(m[2]) };
    return { endpoint: "other" };
  }

  private handleArm(req: http.IncomingMessage, res: http.ServerResponse, server: "arm-http" | "arm-https"): void {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const route = this.route(url.pathname);
    const rec = this.record(req, server, route.endpoint, url);
    const correlation = headerValue(req, "x-ms-correlation-request-id") ?? randomUUID();
    const subForHeaders = route.endpoint === "other" ? this.subscriptionId : route.subscriptionId;
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      rec.status = status;
      const requestId = randomUUID();
      writeResponse(res, status, body, {
        "Cache-Control": "no-cache",
        Pragma: "no-cache",
        Expires: "-1",
        "Content-Type": "application/json; charset=utf-8",
        "x-ms-ratelimit-remaining-subscription-reads": String(this.takeRead(subForHeaders)),
        "x-ms-request-id": requestId,
        "x-ms-correlation-request-id": correlation,
        "x-ms-routing-request-id": `WESTUS:${new Date()
          .toISOString()
          .replace(/[-:]/g, "")
          .replace(/\.\d+Z$/, "Z")}:${requestId}`,
        "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
        "X-Content-Type-Options": "nosniff",
        ...headers,
      });
    };
    const normal = () => this.answerArm(req, url, route, rec, send);
    if (route.endpoint !== "other") {
      const ep = route.endpoint;
      const defaultBody = (status: number, headers: Record<string, string>) => {
        if (status === 429 && !hasHeader(headers, "retry-after")) headers["Retry-After"] = "1";
        const action = ep === "permissions" ? "Microsoft.Authorization/permissions/read" : RESOURCE_GROUP_READ;
        const caller = this.peekCaller(req);
        return JSON.stringify(
          armFaultBody(status, {
            subscriptionId: route.subscriptionId,
            resourceGroup: route.resourceGroup,
            objectId: caller ?? "00000000-0000-0000-0000-000000000000",
            action,
            scope: `/subscriptions/${route.subscriptionId}/resourceGroups/${route.resourceGroup}`,
            retryAfter: headerValueOf(headers, "retry-after") ?? "1",
            correlationId: correlation,
          }),
        );
      };
      if (this.applyFault(ep, rec, req, res, send, defaultBody, normal)) return;
    }
    normal();
  }

  private answerArm(
    req: http.IncomingMessage,
    url: URL,
    route: Route,
    rec: RecordedRequest,
    send: (status: number, body: string, headers?: Record<string, string>) => void,
  ): void {
    const json = (status: number, body: unknown, headers?: Record<string, string>) => send(status, JSON.stringify(body), headers);
    if (route.endpoint === "other") {
      return json(404, { error: { code: "NotFound", message: `The emulator does not serve '${url.pathname}'.` } });
    }
    if (req.method !== "GET") {
      return json(405, { error: { code: "MethodNotAllowed", message: `The emulator serves only GET on '${url.pathname}'.` } });
    }
    let apiVersion: string | null = null;
    for (const [k, v] of url.searchParams) if (k.toLowerCase() === "api-version") apiVersion = v;
    if (!apiVersion) return json(400, arm.missingApiVersion());

    const auth = this.authenticate(req);
    if ("error" in auth) {
      return json(401, auth.error, {
        "WWW-Authenticate": `Bearer authorization_uri="https://login.windows.net/", error="invalid_token", error_description="${auth.challenge}"`,
      });
    }
    rec.callerObjectId = auth.oid;

    if (!this.knownSubscription(route.subscriptionId)) return json(404, arm.subscriptionNotFound(route.subscriptionId));
    const scope = `/subscriptions/${route.subscriptionId}/resourceGroups/${route.resourceGroup}`;
    const rg = this.resourceGroups.get(rgKey(route.subscriptionId, route.resourceGroup));

    if (route.endpoint === "resourceGroup") {
      if (!this.effectiveRoles(auth.oid, scope).some((role) => roleGrants(role, RESOURCE_GROUP_READ))) {
        // For app-only tokens ARM names the principal's object id as "the client", too.
        return json(403, arm.authorizationFailed(auth.oid, auth.oid, RESOURCE_GROUP_READ, scope));
      }
      if (!rg) return json(404, arm.resourceGroupNotFound(route.resourceGroup));
      const body: Record<string, unknown> = {
        id: rgId(rg.subscriptionId, rg.name),
        name: rg.name,
        type: "Microsoft.Resources/resourceGroups",
        location: rg.location,
      };
      if (rg.tags) body.tags = rg.tags;
      body.properties = { provisioningState: "Succeeded" };
      return json(200, body);
    }

    // Permissions_ListForResourceGroup: the caller's own effective permissions at the scope.
    if (!rg) return json(404, arm.resourceGroupNotFound(route.resourceGroup));
    const value = this.effectiveRoles(auth.oid, scope).map((role) => ({
      actions: [...role.actions],
      notActions: [...role.notActions],
      dataActions: [...role.dataActions],
      notDataActions: [...role.notDataActions],
    }));
    return json(200, { value });
  }

  /** Verifies the bearer token the way ARM does; returns the caller or ARM's 401 body. */
  private authenticate(
    req: http.IncomingMessage,
  ): { oid: string; claims: JwtClaims } | { error: ReturnType<typeof arm.invalidToken>; challenge: string } {
    const header = headerValue(req, "authorization");
    if (header === undefined) {
      return { error: arm.missingAuthorization(), challenge: "The authentication failed because of missing 'Authorization' header." };
    }
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) {
      return {
        error: arm.invalidAuthorizationFormat(),
        challenge: "The authentication failed because of invalid 'Authorization' header format.",
      };
    }
    const decoded = decodeJwt(m[1]);
    if (!decoded || !this.publicKey || !verifyJwtSignature(decoded, this.publicKey)) {
      return { error: arm.invalidToken(), challenge: "The access token is invalid." };
    }
    const c = decoded.claims;
    const now = Date.now();
    if (typeof c.exp !== "number" || now >= c.exp * 1000) {
      const exp = new Date(typeof c.exp === "number" ? c.exp * 1000 : 0);
      return { error: arm.expiredToken(exp, new Date(now)), challenge: "The access token has expired." };
    }
    if (typeof c.nbf === "number" && now < c.nbf * 1000) {
      return { error: arm.invalidToken(), challenge: "The access token is not yet valid." };
    }
    if (typeof c.aud !== "string" || !this.armAudiences.includes(c.aud)) {
      return { error: arm.wrongAudience(String(c.aud), this.armAudiences), challenge: "The access token has an invalid audience." };
    }
    if (c.tid !== this.tenantId || c.iss !== `https://sts.windows.net/${this.tenantId}/`) {
      return { error: arm.wrongTenant(String(c.iss), this.tenantId), challenge: "The access token is from the wrong issuer." };
    }
    if (typeof c.oid !== "string" || !c.oid) {
      return {
        error: {
          error: {
            code: "InvalidAuthenticationToken",
            message:
              "The received access token is not valid: at least one of the claims 'puid' or 'altsecid' or 'oid' should be present. If you are accessing as application please make sure service principal is properly created in the tenant.",
          },
        },
        challenge: "The access token is invalid.",
      };
    }
    return { oid: c.oid, claims: c };
  }

  /** The oid of a verifiable token on the request, for fault bodies; never throws. */
  private peekCaller(req: http.IncomingMessage): string | null {
    const a = this.authenticate(req);
    return "oid" in a ? a.oid : null;
  }

  private effectiveRoles(principalId: string, scope: string): RoleDefinition[] {
    const now = Date.now();
    const roles: RoleDefinition[] = [];
    for (const a of this.assignments) {
      if (a.principalId.toLowerCase() !== principalId.toLowerCase()) continue;
      if (now < a.effectiveAt) continue;
      if (!scopeCovers(a.scope, scope)) continue;
      const guid = a.roleDefinitionId.split("/").pop()!.toLowerCase();
      const role = this.roleDefinitions.get(guid);
      if (role) roles.push(role);
    }
    return roles;
  }

  private knownSubscription(sub: string): boolean {
    const s = sub.toLowerCase();
    if (s === this.subscriptionId.toLowerCase()) return true;
    for (const rg of this.resourceGroups.values()) if (rg.subscriptionId.toLowerCase() === s) return true;
    return this.assignments.some((a) => normalizeScope(a.scope).startsWith(`/subscriptions/${s}`));
  }

  /** Token bucket of ARM's subscription reads; returns what is left after this request. */
  private takeRead(sub: string): number {
    const key = sub.toLowerCase();
    const now = Date.now();
    const b = this.readBuckets.get(key) ?? { tokens: READ_BUCKET_SIZE, at: now };
    const tokens = Math.min(READ_BUCKET_SIZE, b.tokens + ((now - b.at) / 1000) * READ_BUCKET_REFILL_PER_SEC);
    const left = Math.max(0, tokens - 1);
    this.readBuckets.set(key, { tokens: left, at: now });
    return Math.floor(left);
  }
}

// ---------------------------------------------------------------- helpers

const MALFORMED: Record<Endpoint, string> = {
  imds: '{"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tLyJ9","refresh_token":"","expires_in":"8639',
  resourceGroup:
    '{"id":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg","name":"rg","type":"Microsoft.Resources/resourceGroups","locat',
  permissions: '{"value":[{"actions":["*/read"],"notActions":[',
};

/**
 * "Tag names are case-insensitive for operations. A tag with a tag name, regardless of the casing, is updated or
 * retrieved." (https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/tag-resources#limitations):
 * names that differ only in case are one tag, so ARM never returns both. The first spelling stays, the last value wins.
 */
function mergeTagNames(tags: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  const spelled = new Map<string, string>();
  for (const [k, v] of Object.entries(tags)) {
    const name = spelled.get(k.toLowerCase()) ?? k;
    spelled.set(k.toLowerCase(), name);
    out[name] = v;
  }
  return out;
}

/** A 200 whose body never ends: chunks as fast as the client takes them, or one byte per `everyMs`. */
function streamForever(
  res: http.ServerResponse,
  everyMs: number,
  headers: Record<string, string>,
  later: (ms: number, fn: () => void) => void,
): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", ...headers });
  res.write('{"value":"');
  const chunk = Buffer.alloc(64 * 1024, "a");
  const pump = () => {
    if (res.destroyed) return;
    if (everyMs > 0) {
      res.write("a");
      later(everyMs, pump);
      return;
    }
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once("drain", pump);
  };
  res.on("error", () => undefined);
  pump();
}

function rgKey(subscriptionId: string, name: string): string {
  return `${subscriptionId.toLowerCase()}/${name.toLowerCase()}`;
}

function rgId(subscriptionId: string, name: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${name}`;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function headerValue(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((k) => k.toLowerCase() === name);
}

function headerValueOf(headers: Record<string, string>, name: string): string | undefined {
  const k = Object.keys(headers).find((h) => h.toLowerCase() === name);
  return k === undefined ? undefined : headers[k];
}

function writeResponse(res: http.ServerResponse, status: number, body: string, headers: Record<string, string>): void {
  if (res.destroyed || res.writableEnded) return;
  try {
    res.writeHead(status, { ...headers, "Content-Length": String(Buffer.byteLength(body)) });
    res.end(body);
  } catch {
    // the client went away; nothing to answer
  }
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
