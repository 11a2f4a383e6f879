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
 * 3. Grants mode (setups-design §5): several VMs, each with its own IMDS base (`addVm` -> `<imdsUrl>/vms/<name>`)
 *    serving its identities (selection by client_id / object_id / msi_res_id, Azure's defaults: selectIdentity) and
 *    its userData (`/metadata/instance/compute/userData?api-version=2021-01-01&format=text`, base64 as stored);
 *    user-assigned identities (`addUserAssignedIdentity`, tokens carry their oid/appid/xms_mirid); ARM GETs of the
 *    subscription and of any registered resource (`addResource`, `addStorageAccount`, containers, UAMIs), RBAC-checked
 *    with `<type>/read` at that scope and inherited from every ancestor; Permissions_ListForResource; role
 *    assignments at a scope with `$filter` (assignedTo, principalId eq, atScope) and role-definition GETs; and a blob
 *    data plane (List Blobs, `blobUrl` / `blobHttpsUrl`, path-style `<account>/<container>`, see handleBlob).
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
  armError,
  armFaultBody,
  httpReason,
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

/**
 * Fault-injection targets. The first three are the tutorial's; the others came with grants mode:
 * "resource" (ARM GET of a subscription or any registered resource), "roleAssignments" (list at a scope),
 * "roleDefinition" (GET), "blob" (the blob data plane), "userData" (IMDS userData). "permissions" covers
 * Permissions_ListForResourceGroup and Permissions_ListForResource alike.
 */
export type Endpoint = "imds" | "resourceGroup" | "permissions" | "resource" | "roleAssignments" | "roleDefinition" | "blob" | "userData";
const ENDPOINTS: readonly Endpoint[] = [
  "imds",
  "resourceGroup",
  "permissions",
  "resource",
  "roleAssignments",
  "roleDefinition",
  "blob",
  "userData",
];

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
  /** 200 whose connection closes halfway through the body its Content-Length announced. */
  cut?: boolean;
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
  server: "imds" | "arm-http" | "arm-https" | "blob";
  /** IMDS only: the VM whose IMDS base URL was used ("" for the default, single-VM base imdsUrl). */
  vm?: string;
  /** The fault kind applied, when faulted. */
  fault?: "status" | "body" | "delay" | "reset" | "hang" | "malformed" | "endless" | "trickle" | "cut";
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

/** A user-assigned managed identity registered with addUserAssignedIdentity (also an ARM resource). */
export interface UserAssignedIdentityInfo extends VmIdentity {
  name: string;
}

/** One VM of a multi-VM world (addVm). */
export interface VmSpec {
  /** Unique per emulator; becomes part of the VM's IMDS base URL. */
  name: string;
  /** Enable the system-assigned identity (true: fresh ids), default false. */
  systemAssigned?: boolean | { principalId?: string; clientId?: string };
  /** User-assigned identities attached to the VM: resource ids of addUserAssignedIdentity, or identities to register. */
  userAssigned?: Array<string | { name?: string; resourceId?: string; principalId?: string; clientId?: string }>;
  /** The VM's userData as Azure stores it: base64 (IMDS serves it back base64, as Azure does). */
  userData?: string;
  /** Resource group of the VM's resource id; default identity-lab-rg. */
  resourceGroup?: string;
}

export interface VmInfo {
  name: string;
  resourceId: string;
  /** Base URL for IMDS as this VM sees it (pass it as IDENTITYLAB_IMDS_ENDPOINT / -ImdsEndpoint). */
  imdsBase: string;
  systemAssigned: VmIdentity | null;
  userAssigned: UserAssignedIdentityInfo[];
}

interface VmRecord {
  name: string;
  resourceId: string;
  system: VmIdentity | null;
  user: UserAssignedIdentityInfo[];
  userData: string | null;
}

interface ArmResourceRecord {
  id: string;
  type: string;
  body: Record<string, unknown>;
}

interface StorageAccountRecord {
  id: string;
  name: string;
  containers: Set<string>;
}

interface ResourceGroupRecord {
  subscriptionId: string;
  name: string;
  location: string;
  tags?: Record<string, string>;
}

type Route =
  | { endpoint: "resourceGroup"; subscriptionId: string; resourceGroup: string }
  | { endpoint: "permissions"; subscriptionId: string; resourceGroup: string; resourceId?: string }
  | { endpoint: "resource"; subscriptionId: string; resourceGroup: string; resourceId: string }
  | { endpoint: "roleAssignments"; subscriptionId: string; resourceGroup: string; scope: string }
  | { endpoint: "roleDefinition"; subscriptionId: string; resourceGroup: string; scope: string; guid: string }
  | { endpoint: "other" };

const IMDS_TOKEN_PATH = "/metadata/identity/oauth2/token";
const RG_ROUTE = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/?$/i;
const PERMISSIONS_ROUTE = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.authorization\/permissions\/?$/i;
const SUBSCRIPTION_ROUTE = /^\/subscriptions\/([^/]+)\/?$/i;
const RESOURCE_PERMISSIONS_ROUTE =
  /^(\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/.+)\/providers\/microsoft\.authorization\/permissions\/?$/i;
const ROLE_ASSIGNMENTS_ROUTE =
  /^(\/subscriptions\/([^/]+)(?:\/resourcegroups\/([^/]+)(?:\/providers\/.+)?)?)?\/providers\/microsoft\.authorization\/roleassignments\/?$/i;
const ROLE_DEFINITION_ROUTE =
  /^(\/subscriptions\/([^/]+)(?:\/resourcegroups\/([^/]+)(?:\/providers\/.+)?)?)?\/providers\/microsoft\.authorization\/roledefinitions\/([^/]+)\/?$/i;
const RESOURCE_ROUTE = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/[^/]+\/[^/]+\/[^/]+(?:\/[^/]+\/[^/]+)*\/?$/i;
const VM_PREFIX = /^\/vms\/([^/]+)(\/.*)?$/;
const USER_DATA_PATH = "/metadata/instance/compute/userdata";
/** The blob data-plane operation List Blobs needs (built-in Storage Blob Data Reader's dataAction). */
export const BLOB_LIST_DATA_ACTION = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read";
/** Audiences Azure Storage accepts for Entra tokens (https://learn.microsoft.com/en-us/azure/storage/blobs/authorize-access-azure-active-directory). */
export const STORAGE_AUDIENCES: readonly string[] = ["https://storage.azure.com/", "https://storage.azure.com"];
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
  private readonly faults = Object.fromEntries(ENDPOINTS.map((e) => [e, [] as Fault[]])) as Record<Endpoint, Fault[]>;
  private readonly vms = new Map<string, VmRecord>();
  private readonly uamis = new Map<string, UserAssignedIdentityInfo>();
  private readonly resources = new Map<string, ArmResourceRecord>();
  private readonly storageAccounts = new Map<string, StorageAccountRecord>();
  private defaultUserData: string | null = null;
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
  private urls: { imds: string; arm: string; armHttps: string; blob: string; blobHttps: string } | null = null;

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
    const blob = http.createServer((req, res) => this.handleBlob(req, res));
    // Microsoft's storage SDK, like its ARM client, sends a bearer token only over TLS.
    const blobHttps = https.createServer({ cert: this.tls.cert, key: this.tls.key }, (req, res) => this.handleBlob(req, res));
    this.servers = [imds, armHttp, armHttps, blob, blobHttps];
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
      blob: `http://127.0.0.1:${ports[3]}`,
      blobHttps: `https://localhost:${ports[4]}`,
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
  /** Blob service base, path-style: a container's URL is `${blobUrl}/<account>/<container>` (see containerUrl). */
  get blobUrl(): string {
    return this.requireStarted().blob;
  }
  /** The same blob service over HTTPS (the emulator's certificate, caCertPath), for Microsoft's SDK. */
  get blobHttpsUrl(): string {
    return this.requireStarted().blobHttps;
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

  /** userData of the default (single-VM) IMDS base, base64 as Azure stores it; null: none. */
  setUserData(base64: string | null): void {
    this.defaultUserData = base64;
  }

  /**
   * Registers a user-assigned managed identity: an identity IMDS can hand out (to VMs that list it) and an ARM
   * resource (`Microsoft.ManagedIdentity/userAssignedIdentities`, readable with `.../read`).
   */
  addUserAssignedIdentity(u: { name: string; resourceGroup?: string; principalId?: string; clientId?: string }): UserAssignedIdentityInfo {
    const rg = u.resourceGroup ?? "identity-lab-rg";
    const info: UserAssignedIdentityInfo = {
      name: u.name,
      principalId: u.principalId ?? randomUUID(),
      clientId: u.clientId ?? randomUUID(),
      resourceId: `/subscriptions/${this.subscriptionId}/resourcegroups/${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${u.name}`,
    };
    this.uamis.set(info.resourceId.toLowerCase(), info);
    // Body shape: azure-rest-api-specs specification/msi/resource-manager/Microsoft.ManagedIdentity/stable/2023-01-31/examples/IdentityGet.json
    this.addResource({
      id: info.resourceId,
      location: "westus",
      properties: { tenantId: this.tenantId, principalId: info.principalId, clientId: info.clientId },
    });
    return { ...info };
  }

  /**
   * Registers any ARM resource (or child resource) for GET `<id>?api-version=...`. ARM checks `<type>/read` at the
   * resource's scope first (403 AuthorizationFailed), then existence. `type` defaults to the one the id spells.
   */
  addResource(r: {
    id: string;
    type?: string;
    location?: string;
    properties?: Record<string, unknown>;
    extra?: Record<string, unknown>;
  }): string {
    const id = r.id.replace(/\/+$/, "");
    const type = r.type ?? resourceTypeOf(id);
    if (!type) throw new Error(`'${r.id}' is not an ARM resource id`);
    const body: Record<string, unknown> = { id, name: id.split("/").pop(), type };
    if (r.location) body.location = r.location;
    Object.assign(body, r.extra ?? {});
    body.properties = r.properties ?? {};
    this.resources.set(id.toLowerCase(), { id, type, body });
    return id;
  }

  /** Registers a storage account (an ARM resource) and its blob containers (ARM child resources and data plane). */
  addStorageAccount(a: { name: string; resourceGroup?: string; containers?: string[]; location?: string }): {
    id: string;
    containerIds: Record<string, string>;
  } {
    const rg = a.resourceGroup ?? "identity-lab-rg";
    const id = `/subscriptions/${this.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Storage/storageAccounts/${a.name}`;
    // Body shape: azure-rest-api-specs specification/storage/resource-manager/Microsoft.Storage/stable/2023-05-01/examples/StorageAccountGetProperties.json (abridged)
    this.addResource({
      id,
      location: a.location ?? "westus",
      extra: { kind: "StorageV2", sku: { name: "Standard_LRS", tier: "Standard" } },
      properties: {
        provisioningState: "Succeeded",
        primaryEndpoints: { blob: `https://${a.name}.blob.core.windows.net/` },
        supportsHttpsTrafficOnly: true,
        minimumTlsVersion: "TLS1_2",
        allowBlobPublicAccess: false,
        allowSharedKeyAccess: false,
      },
    });
    const rec: StorageAccountRecord = { id, name: a.name, containers: new Set() };
    this.storageAccounts.set(a.name.toLowerCase(), rec);
    const containerIds: Record<string, string> = {};
    for (const c of a.containers ?? []) containerIds[c] = this.addBlobContainer(a.name, c);
    return { id, containerIds };
  }

  /** Adds a blob container to a registered storage account; returns its ARM id (the RBAC scope of its data). */
  addBlobContainer(account: string, container: string): string {
    const rec = this.storageAccounts.get(account.toLowerCase());
    if (!rec) throw new Error(`unknown storage account '${account}'`);
    rec.containers.add(container.toLowerCase());
    return this.addResource({
      id: `${rec.id}/blobServices/default/containers/${container}`,
      properties: { publicAccess: "None", hasImmutabilityPolicy: false, hasLegalHold: false },
    });
  }

  /** The data-plane URL of a container, path-style on the emulator's blob listener (the probe's `b`). */
  containerUrl(account: string, container: string, tls = false): string {
    return `${tls ? this.blobHttpsUrl : this.blobUrl}/${account}/${container}`;
  }

  /**
   * Adds a VM with its own IMDS (base URL `<imdsUrl>/vms/<name>`): its identities and its userData. Requires
   * start(). The default base (imdsUrl, setVmIdentity) stays the single-VM world of the tutorial tests.
   */
  addVm(spec: VmSpec): string {
    this.requireStarted();
    if (!/^[A-Za-z0-9_-]+$/.test(spec.name)) throw new Error(`VM name '${spec.name}' must be [A-Za-z0-9_-]+`);
    if (this.vms.has(spec.name.toLowerCase())) throw new Error(`VM '${spec.name}' already exists`);
    const rg = spec.resourceGroup ?? "identity-lab-rg";
    const resourceId = `/subscriptions/${this.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${spec.name}`;
    const sa = spec.systemAssigned;
    const system: VmIdentity | null = sa
      ? { principalId: (sa !== true && sa.principalId) || randomUUID(), clientId: (sa !== true && sa.clientId) || randomUUID(), resourceId }
      : null;
    const user: UserAssignedIdentityInfo[] = [];
    for (const u of spec.userAssigned ?? []) {
      if (typeof u === "string") {
        const known = this.uamis.get(u.toLowerCase());
        if (!known) throw new Error(`unknown user-assigned identity '${u}'`);
        user.push(known);
      } else {
        const known = u.resourceId ? this.uamis.get(u.resourceId.toLowerCase()) : undefined;
        user.push(
          known ??
            this.addUserAssignedIdentity({
              name: u.name ?? u.resourceId?.split("/").pop() ?? `${spec.name}-id${user.length}`,
              resourceGroup: rg,
              principalId: u.principalId,
              clientId: u.clientId,
            }),
        );
      }
    }
    this.vms.set(spec.name.toLowerCase(), { name: spec.name, resourceId, system, user, userData: spec.userData ?? null });
    return this.vmImdsBase(spec.name);
  }

  /** What addVm made, for tests and the simulated Azure. */
  vm(name: string): VmInfo {
    const v = this.vms.get(name.toLowerCase());
    if (!v) throw new Error(`unknown VM '${name}'`);
    return {
      name: v.name,
      resourceId: v.resourceId,
      imdsBase: this.vmImdsBase(v.name),
      systemAssigned: v.system ? { ...v.system } : null,
      userAssigned: v.user.map((u) => ({ ...u })),
    };
  }

  /** Replaces a VM's userData (base64) or identities, as a VM update would. */
  updateVm(name: string, change: { userData?: string | null; systemAssigned?: VmIdentity | null }): void {
    const v = this.vms.get(name.toLowerCase());
    if (!v) throw new Error(`unknown VM '${name}'`);
    if (change.userData !== undefined) v.userData = change.userData;
    if (change.systemAssigned !== undefined) v.system = change.systemAssigned ? { ...change.systemAssigned } : null;
  }

  removeVm(name: string): void {
    this.vms.delete(name.toLowerCase());
  }

  private vmImdsBase(name: string): string {
    return `${this.imdsUrl}/vms/${name}`;
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

  private requireStarted(): { imds: string; arm: string; armHttps: string; blob: string; blobHttps: string } {
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
            : fault.cut
              ? "cut"
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
      if (fault.cut) {
        rec.status = 200;
        const body = Buffer.from(JSON.stringify({ padding: "x".repeat(400) }));
        res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Content-Length": String(body.length), ...headers });
        res.write(body.subarray(0, body.length >> 1), () => req.socket.destroy());
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
    // A VM added with addVm is reached under /vms/<name>; the bare base is the default (single-VM) world.
    let vmName = "";
    let path = url.pathname;
    const m = VM_PREFIX.exec(path);
    if (m) {
      vmName = safeDecode(m[1]);
      path = m[2] ?? "/";
    }
    const p = path.toLowerCase().replace(/\/+$/, "");
    // @azure/msal-node 7 asks for ".../oauth2/token/" (trailing slash), which real IMDS serves too.
    const endpoint: Endpoint | "other" = p === IMDS_TOKEN_PATH ? "imds" : p === USER_DATA_PATH ? "userData" : "other";
    const rec = this.record(req, "imds", endpoint, url);
    rec.vm = vmName;
    rec.path = path;
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      rec.status = status;
      writeResponse(res, status, body, { "Content-Type": "application/json; charset=utf-8", ...headers });
    };
    const normal = () => this.answerImds(req, url, endpoint, vmName, send);
    if (endpoint !== "other" && this.applyFault(endpoint, rec, req, res, send, (s) => JSON.stringify(imdsFaultBody(s)), normal)) return;
    normal();
  }

  /** The identities IMDS holds for a VM ("" = the default world of setVmIdentity). */
  private vmRecord(vmName: string): VmRecord | null {
    if (vmName === "") {
      return { name: "", resourceId: this.identity?.resourceId ?? "", system: this.identity, user: [], userData: this.defaultUserData };
    }
    return this.vms.get(vmName.toLowerCase()) ?? null;
  }

  private answerImds(
    req: http.IncomingMessage,
    url: URL,
    endpoint: Endpoint | "other",
    vmName: string,
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
    const vm = this.vmRecord(vmName);
    if (endpoint === "other" || !vm) {
      return json(404, { error: "not_found", error_description: `The emulator serves only ${IMDS_TOKEN_PATH} and ${USER_DATA_PATH}` });
    }
    if (req.method !== "GET") return json(405, { error: "invalid_request", error_description: "Only GET is supported" });
    const names = [...url.searchParams.keys()];
    if (new Set(names).size !== names.length) {
      // instance-metadata-service.md: "Requests with duplicate query parameter names will be rejected."
      return json(400, { error: "invalid_request", error_description: "Duplicate query parameter" });
    }
    const apiVersion = url.searchParams.get("api-version");
    if (!apiVersion) return json(400, imdsApiVersionError(true));
    if (endpoint === "userData") {
      // instance-metadata-service.md "Get user data": GET /metadata/instance/compute/userData?api-version=2021-01-01&format=text
      // answers the base64 text the VM was given (user data needs api-version 2021-01-01 or later).
      if (!IMDS_IDENTITY_API_VERSIONS.includes(apiVersion) || apiVersion < "2021-01-01") return json(400, imdsApiVersionError(false));
      if (url.searchParams.get("format") !== "text") {
        return json(400, { error: "Bad request. format=text is required for leaf nodes. For more information refer to aka.ms/azureimds" });
      }
      return send(200, vm.userData ?? "", { "Content-Type": "text/plain; charset=utf-8" });
    }
    if (!IMDS_IDENTITY_API_VERSIONS.includes(apiVersion)) return json(400, imdsApiVersionError(false));
    const resource = url.searchParams.get("resource");
    if (!resource) return json(400, IMDS_RESOURCE_REQUIRED);
    const id = selectIdentity(vm, url.searchParams);
    if (!id) return json(400, IMDS_IDENTITY_NOT_FOUND);
    if (this.tokenResources && !this.tokenResources.includes(resource)) return json(400, imdsResourceNotFound(resource, this.tenantId));
    const now = Math.floor(Date.now() / 1000);
    const lifetime = this.tokenLifetimeSeconds;
    const accessToken = this.mintAccessToken({
      audience: resource,
      principalId: id.principalId,
      clientId: id.clientId,
      resourceId: id.resourceId,
    });
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
    m = RESOURCE_PERMISSIONS_ROUTE.exec(pathname);
    if (m)
      return { endpoint: "permissions", subscriptionId: safeDecode(m[2]), resourceGroup: safeDecode(m[3]), resourceId: safeDecode(m[1]) };
    m = ROLE_ASSIGNMENTS_ROUTE.exec(pathname);
    if (m)
      return {
        endpoint: "roleAssignments",
        subscriptionId: safeDecode(m[2] ?? ""),
        resourceGroup: safeDecode(m[3] ?? ""),
        scope: safeDecode(m[1] ?? "/"),
      };
    m = ROLE_DEFINITION_ROUTE.exec(pathname);
    if (m) {
      return {
        endpoint: "roleDefinition",
        subscriptionId: safeDecode(m[2] ?? ""),
        resourceGroup: safeDecode(m[3] ?? ""),
        scope: safeDecode(m[1] ?? "/"),
        guid: safeDecode(m[4]),
      };
    }
    m = SUBSCRIPTION_ROUTE.exec(pathname);
    if (m)
      return {
        endpoint: "resource",
        subscriptionId: safeDecode(m[1]),
        resourceGroup: "",
        resourceId: safeDecode(pathname.replace(/\/+$/, "")),
      };
    m = RESOURCE_ROUTE.exec(pathname);
    if (m)
      return {
        endpoint: "resource",
        subscriptionId: safeDecode(m[1]),
        resourceGroup: safeDecode(m[2]),
        resourceId: safeDecode(pathname.replace(/\/+$/, "")),
      };
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
        const { action, scope } = armCheckOf(route);
        const caller = this.peekCaller(req);
        return JSON.stringify(
          armFaultBody(status, {
            subscriptionId: route.subscriptionId,
            resourceGroup: route.resourceGroup,
            objectId: caller ?? "00000000-0000-0000-0000-000000000000",
            action,
            scope,
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

    if (route.endpoint === "roleDefinition" || (route.endpoint === "roleAssignments" && route.subscriptionId === "")) {
      return this.answerAuthorization(url, route, auth.oid, json);
    }
    if (!this.knownSubscription(route.subscriptionId)) return json(404, arm.subscriptionNotFound(route.subscriptionId));
    if (route.endpoint === "resource" || route.endpoint === "roleAssignments" || (route.endpoint === "permissions" && route.resourceId)) {
      return this.answerAuthorization(url, route, auth.oid, json);
    }
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

  /**
   * The grants-mode ARM operations: GET of a subscription or a registered resource, Permissions_ListForResource,
   * role assignments at a scope (with `$filter`), and role-definition GETs. RBAC first (403 AuthorizationFailed
   * over the requested scope, inherited from every ancestor scope), then existence (404), as ARM does.
   */
  private answerAuthorization(url: URL, route: Route, oid: string, json: (status: number, body: unknown) => void): void {
    const { action, scope } = armCheckOf(route);
    const allowed = () => this.effectiveRoles(oid, scope).some((role) => roleGrants(role, action));
    if (route.endpoint === "resource") {
      if (!allowed()) return json(403, arm.authorizationFailed(oid, oid, action, scope));
      if (/^\/subscriptions\/[^/]+$/i.test(route.resourceId)) {
        // Subscriptions_Get (azure-rest-api-specs specification/resources/resource-manager/Microsoft.Resources/stable/2022-12-01/examples/GetSubscription.json)
        return json(200, {
          id: `/subscriptions/${route.subscriptionId}`,
          authorizationSource: "RoleBased",
          managedByTenants: [],
          subscriptionId: route.subscriptionId,
          tenantId: this.tenantId,
          displayName: "identity-lab",
          state: "Enabled",
          subscriptionPolicies: { locationPlacementId: "Public_2014-09-01", quotaId: "PayAsYouGo_2014-09-01", spendingLimit: "Off" },
        });
      }
      const r = this.resources.get(route.resourceId.toLowerCase());
      if (!r) return json(404, armResourceNotFound(route.resourceId, route.resourceGroup));
      return json(200, r.body);
    }
    if (route.endpoint === "permissions") {
      // Permissions_ListForResource: the caller's own effective permissions at the resource; no role needed.
      if (!this.resources.has(route.resourceId!.toLowerCase()))
        return json(404, armResourceNotFound(route.resourceId!, route.resourceGroup));
      return json(200, { value: this.effectiveRoles(oid, scope).map(permissionBlock) });
    }
    if (route.endpoint === "roleAssignments") {
      if (!allowed()) return json(403, arm.authorizationFailed(oid, oid, action, scope));
      // RoleAssignments_ListForScope (https://learn.microsoft.com/en-us/rest/api/authorization/role-assignments/list-for-scope,
      // api-version 2022-04-01): no filter = assignments at, above and below the scope; atScope() = at or above;
      // principalId eq '{id}' and assignedTo('{id}') = that principal's, at, above or below.
      const filter = url.searchParams.get("$filter");
      let principal: string | null = null;
      let atScope = false;
      if (filter !== null) {
        const f = /^\s*(?:assignedTo\('([^']*)'\)|principalId\s+eq\s+'([^']*)'|(atScope\(\)))\s*$/i.exec(filter);
        if (!f) return json(400, armError("InvalidFilterInQueryString", `Invalid filter '${filter}' in the query string.`));
        principal = f[1] ?? f[2] ?? null;
        atScope = !!f[3];
      }
      const now = Date.now();
      const value = this.assignments
        .filter((a) => now >= a.effectiveAt)
        .filter((a) => (principal === null ? true : a.principalId.toLowerCase() === principal.toLowerCase()))
        .filter((a) => scopeCovers(a.scope, scope) || (!atScope && scopeCovers(scope, a.scope)))
        .map((a) => ({
          properties: {
            roleDefinitionId: a.roleDefinitionId,
            principalId: a.principalId,
            principalType: "ServicePrincipal",
            scope: a.scope,
            condition: null,
            conditionVersion: null,
            createdOn: new Date(a.effectiveAt).toISOString(),
            updatedOn: new Date(a.effectiveAt).toISOString(),
            createdBy: null,
            updatedBy: null,
            delegatedManagedIdentityResourceId: null,
            description: null,
          },
          id: a.id,
          type: "Microsoft.Authorization/roleAssignments",
          name: a.name,
        }));
      return json(200, { value });
    }
    if (route.endpoint === "roleDefinition") {
      if (!allowed()) return json(403, arm.authorizationFailed(oid, oid, action, scope));
      const def = this.roleDefinitions.get(route.guid.toLowerCase());
      if (!def)
        return json(
          404,
          armError("RoleDefinitionDoesNotExist", "The specified role definition with ID '" + route.guid + "' does not exist."),
        );
      // RoleDefinitions_Get (https://learn.microsoft.com/en-us/rest/api/authorization/role-definitions/get, 2022-04-01)
      const builtIn = BUILT_IN_ROLES.some((r) => r.id.toLowerCase() === def.id.toLowerCase());
      return json(200, {
        id: `${scope === "/" ? "" : scope}/providers/Microsoft.Authorization/roleDefinitions/${def.id}`,
        type: "Microsoft.Authorization/roleDefinitions",
        name: def.id,
        properties: {
          roleName: def.roleName,
          type: builtIn ? "BuiltInRole" : "CustomRole",
          description: def.roleName,
          assignableScopes: ["/"],
          permissions: [permissionBlock(def)],
          createdOn: null,
          updatedOn: null,
          createdBy: null,
          updatedBy: null,
        },
      });
    }
    return json(404, { error: { code: "NotFound", message: `The emulator does not serve '${url.pathname}'.` } });
  }

  // ---------------------------------------------------------------- blob data plane

  /**
   * List Blobs (https://learn.microsoft.com/en-us/rest/api/storageservices/list-blobs):
   * `GET <blobUrl>/<account>/<container>?restype=container&comp=list`, authorized with an Entra token for
   * `https://storage.azure.com/` ("Authorize access to blobs using Microsoft Entra ID": requests need `x-ms-version`
   * 2017-11-09 or later), checked against the caller's dataActions at the container's scope (inherited from the
   * account, RG, subscription). Errors are Azure Storage's XML `<Error><Code>…</Code><Message>…</Message></Error>`
   * with `x-ms-error-code`; the codes and texts are the service's (AuthorizationPermissionMismatch 403 "This request
   * is not authorized to perform this operation using this permission.", e.g. Azure/azure-storage-net#1012,
   * microsoft/AzureStorageExplorer#3767; AuthenticationFailed 403 "Authentication scheme Bearer is not supported in
   * this version." without x-ms-version, MicrosoftDocs/azure-docs#95050).
   */
  private handleBlob(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const rec = this.record(req, "blob", "blob", url);
    const requestId = randomUUID();
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      rec.status = status;
      writeResponse(res, status, body, {
        "Content-Type": "application/xml",
        Server: "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0",
        "x-ms-request-id": requestId,
        "x-ms-version": headerValue(req, "x-ms-version") ?? "2009-09-19",
        ...headers,
      });
    };
    const error = (status: number, code: string, message: string, extra = "") =>
      send(
        status,
        `\uFEFF<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${xmlEscape(message)}\nRequestId:${requestId}\nTime:${new Date().toISOString().replace("Z", "0000Z")}</Message>${extra}</Error>`,
        { "x-ms-error-code": code },
      );
    const normal = () => this.answerBlob(req, url, rec, send, error);
    if (this.applyFault("blob", rec, req, res, send, (status) => blobFaultBody(status, requestId), normal)) return;
    normal();
  }

  private answerBlob(
    req: http.IncomingMessage,
    url: URL,
    rec: RecordedRequest,
    send: (status: number, body: string, headers?: Record<string, string>) => void,
    error: (status: number, code: string, message: string, extra?: string) => void,
  ): void {
    const parts = url.pathname.split("/").filter(Boolean).map(safeDecode);
    const account = parts[0] ? this.storageAccounts.get(parts[0].toLowerCase()) : undefined;
    if (!account) return error(404, "ResourceNotFound", "The specified resource does not exist.");
    const header = headerValue(req, "authorization");
    const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    // A private container answers anonymous requests as if nothing were there.
    if (!m) return error(404, "ResourceNotFound", "The specified resource does not exist.");
    if (!headerValue(req, "x-ms-version")) {
      return error(
        403,
        "AuthenticationFailed",
        "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
        "<AuthenticationErrorDetail>Authentication scheme Bearer is not supported in this version.</AuthenticationErrorDetail>",
      );
    }
    const decoded = decodeJwt(m[1]);
    const c = decoded?.claims;
    const now = Date.now();
    const fail = (detail: string) =>
      error(
        401,
        "InvalidAuthenticationInfo",
        "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.",
        `<AuthenticationErrorDetail>${xmlEscape(detail)}</AuthenticationErrorDetail>`,
      );
    if (!decoded || !c || !this.publicKey || !verifyJwtSignature(decoded, this.publicKey)) return fail("Signature validation failed.");
    if (typeof c.exp !== "number" || now >= c.exp * 1000) return fail("Lifetime validation failed. The token is expired.");
    const aud = String(c.aud);
    const accountAudiences = [`https://${account.name}.blob.core.windows.net`, `https://${account.name}.blob.core.windows.net/`];
    if (!STORAGE_AUDIENCES.includes(aud) && !accountAudiences.includes(aud))
      return fail(`Audience validation failed. Audience did not match.`);
    if (c.tid !== this.tenantId) return fail("Issuer validation failed. Issuer did not match.");
    const oid = typeof c.oid === "string" ? c.oid : "";
    rec.callerObjectId = oid;
    const container = parts[1];
    if (!container || url.searchParams.get("restype") !== "container" || url.searchParams.get("comp") !== "list" || parts.length !== 2) {
      return error(400, "UnsupportedQueryParameter", "The emulator serves only List Blobs on a container.");
    }
    if (!account.containers.has(container.toLowerCase())) return error(404, "ContainerNotFound", "The specified container does not exist.");
    const scope = `${account.id}/blobServices/default/containers/${container}`;
    if (!this.effectiveRoles(oid, scope).some((role) => roleGrants(role, BLOB_LIST_DATA_ACTION, "dataActions"))) {
      return error(
        403,
        "AuthorizationPermissionMismatch",
        "This request is not authorized to perform this operation using this permission.",
      );
    }
    const max = url.searchParams.get("maxresults");
    send(
      200,
      `\uFEFF<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="https://${account.name}.blob.core.windows.net/" ContainerName="${xmlEscape(container)}">${max ? `<MaxResults>${xmlEscape(max)}</MaxResults>` : ""}<Blobs /><NextMarker /></EnumerationResults>`,
    );
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

/**
 * IMDS's choice of identity. `client_id`, `object_id` or `msi_res_id` (alias `mi_res_id`) names one of the VM's
 * identities (system-assigned included); without any, "If system assigned managed identity is enabled and no
 * identity is specified in the request, IMDS defaults to the system assigned managed identity. If system assigned
 * managed identity isn't enabled, and only one user assigned managed identity exists, IMDS defaults to that single
 * user assigned managed identity. If system assigned managed identity isn't enabled, and multiple user assigned
 * managed identities exist, then specifying a managed identity in the request is required."
 * (https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/managed-identities-faq,
 * "What identity will IMDS default to if I don't specify the identity in the request?"). Null: IMDS's 400
 * "Identity not found".
 */
function selectIdentity(vm: VmRecord, q: URLSearchParams): VmIdentity | null {
  const all: VmIdentity[] = [...(vm.system ? [vm.system] : []), ...vm.user];
  const clientId = q.get("client_id");
  const objectId = q.get("object_id") ?? q.get("principal_id");
  const msiResId = q.get("msi_res_id") ?? q.get("mi_res_id");
  const eq = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  if (clientId !== null) return all.find((x) => eq(x.clientId, clientId)) ?? null;
  if (objectId !== null) return all.find((x) => eq(x.principalId, objectId)) ?? null;
  // msi_res_id names a user-assigned identity's resource id; the system identity has none.
  if (msiResId !== null) return vm.user.find((x) => eq(x.resourceId, msiResId)) ?? null;
  if (vm.system) return vm.system;
  return vm.user.length === 1 ? vm.user[0] : null;
}

/**
 * The resource type an ARM id spells: `/subscriptions/s/resourceGroups/rg/providers/NS/t1/n1/t2/n2` -> `NS/t1/t2`;
 * `/subscriptions/s` -> `Microsoft.Resources/subscriptions`; `.../resourceGroups/rg` -> `.../resourceGroups`.
 */
export function resourceTypeOf(id: string): string | null {
  const parts = id.split("/").filter(Boolean);
  if (parts.length === 2 && /^subscriptions$/i.test(parts[0])) return "Microsoft.Resources/subscriptions";
  if (parts.length === 4 && /^resourcegroups$/i.test(parts[2])) return "Microsoft.Resources/resourceGroups";
  const p = parts.findIndex((x) => /^providers$/i.test(x));
  if (p < 0 || parts.length < p + 4 || (parts.length - p - 2) % 2 !== 0) return null;
  const types = [parts[p + 1]];
  for (let i = p + 2; i < parts.length; i += 2) types.push(parts[i]);
  return types.join("/");
}

function permissionBlock(role: RoleDefinition) {
  return {
    actions: [...role.actions],
    notActions: [...role.notActions],
    dataActions: [...role.dataActions],
    notDataActions: [...role.notDataActions],
  };
}

/** The operation ARM checks for a route, and over which scope. */
function armCheckOf(route: Route): { action: string; scope: string } {
  switch (route.endpoint) {
    case "resourceGroup":
      return { action: RESOURCE_GROUP_READ, scope: `/subscriptions/${route.subscriptionId}/resourceGroups/${route.resourceGroup}` };
    case "permissions":
      return {
        action: "Microsoft.Authorization/permissions/read",
        scope: route.resourceId ?? `/subscriptions/${route.subscriptionId}/resourceGroups/${route.resourceGroup}`,
      };
    case "resource":
      return { action: `${resourceTypeOf(route.resourceId) ?? "Microsoft.Resources/subscriptions"}/read`, scope: route.resourceId };
    case "roleAssignments":
      return { action: "Microsoft.Authorization/roleAssignments/read", scope: route.scope };
    case "roleDefinition":
      return { action: "Microsoft.Authorization/roleDefinitions/read", scope: route.scope };
    default:
      return { action: "", scope: "/" };
  }
}

/** ARM's 404 for a resource that does not exist (the generic ResourceNotFound). */
function armResourceNotFound(id: string, resourceGroup: string) {
  const type = resourceTypeOf(id) ?? "";
  const name = type.split("/").length > 2 ? id.split("/").slice(-3).join("/") : id.split("/").pop();
  return armError(
    "ResourceNotFound",
    `The Resource '${type.split("/").slice(0, 2).join("/")}/${name}' under resource group '${resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  );
}

function blobFaultBody(status: number, requestId: string): string {
  const code =
    status === 403
      ? "AuthorizationPermissionMismatch"
      : status === 503
        ? "ServerBusy"
        : status === 500
          ? "InternalError"
          : httpReason(status).replace(/\s+/g, "");
  return `\uFEFF<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${httpReason(status)}\nRequestId:${requestId}\nTime:${new Date().toISOString()}</Message></Error>`;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const MALFORMED: Record<Endpoint, string> = {
  imds: '{"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tLyJ9","refresh_token":"","expires_in":"8639',
  resourceGroup:
    '{"id":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg","name":"rg","type":"Microsoft.Resources/resourceGroups","locat',
  permissions: '{"value":[{"actions":["*/read"],"notActions":[',
  resource: '{"id":"/subscriptions/00000000-0000-0000-0000-000000000000","subscriptionId":"0000',
  roleAssignments: '{"value":[{"properties":{"roleDefinitionId":"/subscriptions/',
  roleDefinition: '{"id":"/providers/Microsoft.Authorization/roleDefinitions/acdd72a7","properties":{"permissions":[',
  blob: '\uFEFF<?xml version="1.0" encoding="utf-8"?><EnumerationResults ContainerName="probe"><Blo',
  userData: "7VZtb9s2EP4rgT5PsijbsS0gH5om3YJ1a5Z4b=",
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
