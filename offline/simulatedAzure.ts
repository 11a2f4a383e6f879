/**
 * A stateful, simulated Azure behind Pulumi's mock runtime, modelling exactly
 * what the lab depends on: resource ids and computed outputs, the VM's identity,
 * RBAC with propagation delay (through the IMDS/ARM emulator), and the Custom
 * Script Extension running the real probe command in real PowerShell.
 *
 * What it does not model: capacity, quotas, policies, regions, networking
 * reachability, or how long Azure really takes to create a VM.
 */
import { generateKeyPairSync, randomUUID } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";
import type { AzureEmulator } from "./azure-emulator";
import { runToEnd } from "./process";
import { hostCommandFor, type PwshPool } from "./pwshHost";
import { gunzipSync } from "node:zlib";
import { ARM_COLLECTIONS, autoname, cseInstanceView, linuxCseInstanceView, unwrapSecrets } from "./armFacts";
import { runShProbe } from "./shProbe";
import { pwshEnv } from "./pwsh";

/** Something that exists in the simulated Azure. */
export interface AzureThing {
  readonly id: string;
  readonly type: string;
  /** Pulumi's logical name, or undefined for what Azure made by itself. */
  readonly pulumiName?: string;
  /** For things the VM created: what happens to them when the VM is deleted. */
  readonly deleteOption?: "Delete" | "Detach";
  /** The id of the VM that owns it. */
  readonly ownedBy?: string;
  /** Why it exists though nobody asked Pulumi for it. */
  readonly implicitReason?: string;
}

export interface Operation {
  readonly type: string;
  readonly name: string;
  readonly startMs: number;
  endMs: number;
  status: "running" | "created" | "failed";
  detail?: string;
}

export interface SimulationOptions {
  /** RBAC: a role assignment takes effect this long after it is created. */
  readonly rbacDelayMs: number;
  /** How long ARM takes to create a role assignment. */
  readonly roleAssignmentCreateMs: number;
  /** PowerShell 7, standing in for the VM's Windows PowerShell 5.1. */
  readonly pwsh: string;
  /** Long-lived pwsh hosts to run the VMs' commands in, instead of a pwsh process each. */
  readonly warmPwsh?: PwshPool;
  /** Compresses time: caps the probe's deadline through its IDENTITYLAB_DEADLINE_SECONDS seam. */
  readonly probeDeadlineSeconds?: number;
  /**
   * The worst order Azure may choose: a role assignment is created only after every VM
   * extension that is being created alongside it (i.e. that does not wait for it) has
   * finished. Makes a missing dependency fail deterministically instead of by a race.
   */
  readonly lateRoleAssignment?: boolean;
  /** How long ARM takes to create a VM (default 0): gives a critical path something to overlap. */
  readonly vmCreateMs?: number;
  /**
   * Role assignments that exist before this deployment, made by someone else (or inherited): each is
   * given, effective at once, to the identity of the resource with that Pulumi logical name when it is
   * created (a VM's system-assigned identity, or a user-assigned identity). Over-privilege looks like this.
   */
  readonly priorGrants?: readonly PriorGrant[];
  readonly onOperation?: (op: Operation) => void;
}

export interface PriorGrant {
  /** Pulumi logical name of the VM or user-assigned identity whose principal gets the role. */
  readonly identityOf: string;
  /** Role-definition GUID. */
  readonly roleDefinitionGuid: string;
  /** "subscription", "resourceGroup" (the resource's own), or an ARM id. */
  readonly scope: string;
}

const EXTENSION = "azure-native:compute:VirtualMachineExtension";

/**
 * How long a role assignment waits, under lateRoleAssignment, for extensions that start
 * alongside it. Pulumi dispatches two resources that wait on the same one (the VM) within
 * the same turn of the event loop: 2 ms apart, measured; this is 250 times that.
 */
export const CONCURRENT_START_WINDOW_MS = 500;

export class SimulatedAzure {
  /** Everything that exists now, by lower-cased id. */
  readonly inventory = new Map<string, AzureThing>();
  readonly operations: Operation[] = [];
  /** Instance views of extensions, by VM name and extension name. */
  private readonly instanceViews = new Map<string, unknown>();
  private readonly t0 = Date.now();
  /** Resolves when the operation ends, whatever its outcome. */
  private readonly ended = new Map<Operation, Promise<void>>();
  /** User-assigned identities by lower-cased id: what a VM that lists one gets. */
  private readonly identities = new Map<string, { principalId: string; clientId: string }>();

  constructor(
    readonly emulator: AzureEmulator,
    private readonly options: SimulationOptions,
  ) {}

  get subscriptionId(): string {
    return this.emulator.subscriptionId;
  }

  now(): number {
    return Date.now() - this.t0;
  }

  private add(thing: AzureThing): void {
    this.inventory.set(thing.id.toLowerCase(), thing);
  }

  mocks(): pulumi.runtime.Mocks {
    return {
      newResource: (args) => this.create(args),
      call: (args) => this.invoke(args),
    };
  }

  private async create(args: pulumi.runtime.MockResourceArgs): Promise<pulumi.runtime.MockResourceResult> {
    if (args.custom === false) return { id: undefined, state: {} };
    const op: Operation = { type: args.type, name: args.name, startMs: this.now(), endMs: -1, status: "running" };
    this.operations.push(op);
    let end!: () => void;
    this.ended.set(op, new Promise<void>((r) => (end = r)));
    try {
      const result = await this.createCustom(args, op);
      op.status = "created";
      return result;
    } catch (e) {
      op.status = "failed";
      op.detail = (e as Error).message;
      throw e;
    } finally {
      op.endMs = this.now();
      end();
      this.options.onOperation?.(op);
    }
  }

  /** Waits out every extension that started within the window, i.e. that was not waiting for the caller. */
  private async extensionsAlongside(): Promise<void> {
    await sleep(CONCURRENT_START_WINDOW_MS);
    const alongside = this.operations.filter((o) => o.type === EXTENSION && o.status === "running");
    await Promise.all(alongside.map((o) => this.ended.get(o)));
  }

  private async createCustom(args: pulumi.runtime.MockResourceArgs, op: Operation): Promise<pulumi.runtime.MockResourceResult> {
    const inputs = unwrapSecrets(args.inputs, "", []);
    const state: Record<string, any> = { ...inputs };
    const sub = `/subscriptions/${this.subscriptionId}`;
    switch (args.type) {
      case "azure-native:managedidentity:UserAssignedIdentity": {
        state.name = inputs.resourceName ?? autoname(args.name);
        const uami = this.emulator.addUserAssignedIdentity({ name: state.name, resourceGroup: inputs.resourceGroupName });
        const id = `${sub}/resourceGroups/${inputs.resourceGroupName}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${state.name}`;
        this.identities.set(id.toLowerCase(), { principalId: uami.principalId, clientId: uami.clientId });
        this.add({ id, type: args.type, pulumiName: args.name });
        this.grantPrior(args.name, uami.principalId, `${sub}/resourceGroups/${inputs.resourceGroupName}`);
        return { id, state: { ...state, principalId: uami.principalId, clientId: uami.clientId, tenantId: this.emulator.tenantId } };
      }
      case "azure-native:storage:StorageAccount": {
        state.name =
          inputs.accountName ??
          autoname(args.name)
            .replace(/[^a-z0-9]/g, "")
            .slice(0, 24);
        const { id } = this.emulator.addStorageAccount({
          name: state.name,
          resourceGroup: inputs.resourceGroupName,
          location: inputs.location,
        });
        this.add({ id, type: args.type, pulumiName: args.name });
        const blob = `https://${state.name}.blob.core.windows.net/`;
        return { id, state: { ...state, primaryEndpoints: { blob }, provisioningState: "Succeeded" } };
      }
      case "azure-native:storage:BlobContainer": {
        state.name = inputs.containerName ?? autoname(args.name);
        const id = this.emulator.addBlobContainer(inputs.accountName, state.name);
        this.add({ id, type: args.type, pulumiName: args.name });
        return { id, state };
      }
      case "tls:index/privateKey:PrivateKey": {
        // A real Ed25519 key: the public half in OpenSSH's wire form (RFC 8709), the private half as PKCS#8 PEM.
        const { publicKey, privateKey } = generateKeyPairSync("ed25519");
        const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
        const field = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
        const blob = Buffer.concat([field(Buffer.from("ssh-ed25519")), field(raw)]).toString("base64");
        const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
        return { id: "none", state: { ...state, publicKeyOpenssh: `ssh-ed25519 ${blob}\n`, privateKeyOpenssh: pem, privateKeyPem: pem } };
      }
      case "random:index/randomString:RandomString": {
        const length = Number(inputs.length ?? 8);
        state.result = randomUUID().replace(/-/g, "").slice(0, length);
        return { id: "none", state };
      }
      case "azure-native:resources:ResourceGroup": {
        state.name = inputs.resourceGroupName ?? autoname(args.name);
        const id = this.emulator.addResourceGroup({ name: state.name, location: inputs.location, tags: inputs.tags });
        this.add({ id, type: args.type, pulumiName: args.name });
        return { id, state };
      }
      case "azure-native:authorization:RoleAssignment": {
        await sleep(this.options.roleAssignmentCreateMs);
        if (this.options.lateRoleAssignment) await this.extensionsAlongside();
        const id = `${inputs.scope}/providers/Microsoft.Authorization/roleAssignments/${inputs.roleAssignmentName}`;
        if (this.inventory.has(id.toLowerCase())) {
          throw new Error(`RoleAssignmentExists: The role assignment already exists. (${id})`);
        }
        this.emulator.assignRole({
          scope: inputs.scope,
          roleDefinitionId: inputs.roleDefinitionId,
          principalId: inputs.principalId,
          name: inputs.roleAssignmentName,
          effectiveAfterMs: this.options.rbacDelayMs,
        });
        this.add({ id, type: args.type, pulumiName: args.name });
        return { id, state: { ...state, name: inputs.roleAssignmentName } };
      }
      case EXTENSION: {
        const vmId = `${sub}/resourceGroups/${inputs.resourceGroupName}/providers/Microsoft.Compute/virtualMachines/${inputs.vmName}`;
        if (!this.inventory.has(vmId.toLowerCase())) throw new Error(`ParentResourceNotFound: ${vmId}`);
        const id = `${vmId}/extensions/${inputs.vmExtensionName}`;
        const linux = inputs.publisher === "Microsoft.Azure.Extensions" && inputs.type === "CustomScript";
        const command: string | undefined = inputs.protectedSettings?.commandToExecute;
        const script: string | undefined = inputs.protectedSettings?.script;
        if (linux ? !script : !command) throw new Error(`the extension has no protectedSettings.${linux ? "script" : "commandToExecute"}`);
        const run = linux ? await this.runShOnVm(script!, inputs.vmName) : await this.runOnVm(command!, inputs.vmName);
        op.detail = `probe exited ${run.code} after ${(run.ms / 1000).toFixed(1)}s`;
        this.instanceViews.set(
          `${inputs.vmName}/${inputs.vmExtensionName}`.toLowerCase(),
          (linux ? linuxCseInstanceView : cseInstanceView)(run, inputs.vmExtensionName),
        );
        if (run.code !== 0) {
          // What Azure does when the command exits non-zero: the extension ends Failed.
          throw new Error(
            `VMExtensionProvisioningError: VM has reported a failure when processing extension '${inputs.vmExtensionName}'. ` +
              `Error message: "Command execution finished, but failed because it returned a non-zero exit code of: '${run.code}'".`,
          );
        }
        this.add({ id, type: args.type, pulumiName: args.name });
        return { id, state: { ...state, name: inputs.vmExtensionName, provisioningState: "Succeeded" } };
      }
      case "random:index/randomPassword:RandomPassword": {
        state.result = `Rh-${randomUUID()}!`;
        return { id: "none", state };
      }
    }
    const collection = ARM_COLLECTIONS[args.type];
    if (!collection) throw new Error(`the simulated Azure does not model ${args.type}`);
    const nameKey = Object.keys(inputs).find((k) => k.endsWith("Name") && k !== "resourceGroupName" && typeof inputs[k] === "string");
    state.name = (nameKey && inputs[nameKey]) || autoname(args.name);
    const rgPath = `${sub}/resourceGroups/${inputs.resourceGroupName}`;
    const id = `${rgPath}/providers/${collection[0]}/${collection[1]}/${state.name}`;
    this.add({ id, type: args.type, pulumiName: args.name });

    if (args.type === "azure-native:network:PublicIPAddress") state.ipAddress = "198.51.100.10";
    if (args.type === "azure-native:network:VirtualNetwork") {
      state.subnets = (inputs.subnets ?? []).map((s: any) => ({ ...s, id: `${id}/subnets/${s.name}`, provisioningState: "Succeeded" }));
      // Network Watcher auto-enablement: Azure's, not Pulumi's, so `pulumi destroy` leaves it.
      const watcher = `${sub}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_${inputs.location}`;
      this.add({
        id: watcher,
        type: "Microsoft.Network/networkWatchers",
        implicitReason: "Azure enables Network Watcher when a region gets its first VNet",
      });
    }
    if (args.type === "azure-native:compute:VirtualMachine") {
      await sleep(this.options.vmCreateMs ?? 0);
      this.createVmParts(id, inputs, state);
      this.grantPrior(args.name, state.identity.principalId, rgPath);
    }
    return { id, state };
  }

  /** The VM's identity and the NIC, OS disk and public IP that Azure makes from its profiles. */
  private createVmParts(vmId: string, inputs: any, state: Record<string, any>): void {
    const type: string = inputs.identity?.type ?? "None";
    const system = /SystemAssigned/i.test(type);
    const uamiIds: string[] = inputs.identity?.userAssignedIdentities ?? [];
    for (const u of uamiIds) {
      if (!this.identities.has(u.toLowerCase())) throw new Error(`InvalidUserAssignedIdentity: ${u} does not exist`);
    }
    const principalId = system ? randomUUID() : undefined;
    state.identity = {
      ...inputs.identity,
      ...(system ? { principalId, tenantId: this.emulator.tenantId } : {}),
      ...(uamiIds.length > 0
        ? { userAssignedIdentities: Object.fromEntries(uamiIds.map((u) => [u, { ...this.identities.get(u.toLowerCase()) }])) }
        : {}),
    };
    state.vmId = randomUUID();
    const rgName = vmId.split("/")[4];
    this.emulator.addVm({
      name: state.name,
      resourceGroup: rgName,
      systemAssigned: system ? { principalId } : false,
      userAssigned: uamiIds,
      userData: inputs.userData,
    });
    // The tutorial's single-VM tests read the default IMDS base; with one VM it is that VM.
    if (system) this.emulator.setVmIdentity({ principalId: principalId!, clientId: randomUUID(), resourceId: vmId });
    const rgPath = vmId.slice(0, vmId.indexOf("/providers/"));
    const osDisk = inputs.storageProfile?.osDisk ?? {};
    this.add({
      id: `${rgPath}/providers/Microsoft.Compute/disks/${state.name}_OsDisk_1_${randomUUID().replace(/-/g, "")}`,
      type: "Microsoft.Compute/disks",
      deleteOption: osDisk.deleteOption === "Delete" ? "Delete" : "Detach",
      ownedBy: vmId,
    });
    for (const nic of inputs.networkProfile?.networkInterfaceConfigurations ?? []) {
      this.add({
        id: `${rgPath}/providers/Microsoft.Network/networkInterfaces/${nic.name}`,
        type: "Microsoft.Network/networkInterfaces",
        deleteOption: nic.deleteOption === "Delete" ? "Delete" : "Detach",
        ownedBy: vmId,
      });
      for (const ip of nic.ipConfigurations ?? []) {
        const pip = ip.publicIPAddressConfiguration;
        if (!pip) continue;
        this.add({
          id: `${rgPath}/providers/Microsoft.Network/publicIPAddresses/${pip.name}`,
          type: "Microsoft.Network/publicIPAddresses",
          deleteOption: pip.deleteOption === "Delete" ? "Delete" : "Detach",
          ownedBy: vmId,
        });
      }
    }
  }

  /** Gives the identity just created the roles someone granted it before this deployment (priorGrants). */
  private grantPrior(pulumiName: string, principalId: string | undefined, resourceGroupId: string): void {
    if (!principalId) return;
    for (const g of this.options.priorGrants ?? []) {
      if (g.identityOf !== pulumiName) continue;
      const sub = `/subscriptions/${this.subscriptionId}`;
      const scope = g.scope === "subscription" ? sub : g.scope === "resourceGroup" ? resourceGroupId : g.scope;
      this.emulator.assignRole({
        scope,
        roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/${g.roleDefinitionGuid}`,
        principalId,
        effectiveAfterMs: 0,
      });
    }
  }

  private invoke(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
    switch (args.token) {
      case "azure-native:authorization:getClientConfig":
        return { subscriptionId: this.subscriptionId, tenantId: this.emulator.tenantId, clientId: randomUUID(), objectId: randomUUID() };
      case "azure-native:compute:getVirtualMachineExtension": {
        const view = this.instanceViews.get(`${args.inputs.vmName}/${args.inputs.vmExtensionName}`.toLowerCase());
        if (!view) throw new Error(`ResourceNotFound: extension ${args.inputs.vmExtensionName} on ${args.inputs.vmName}`);
        return { name: args.inputs.vmExtensionName, provisioningState: "Succeeded", instanceView: view };
      }
      default:
        throw new Error(`the simulated Azure does not model the function ${args.token}`);
    }
  }

  /**
   * What the Custom Script Extension does with commandToExecute, with pwsh standing
   * in for powershell.exe and the emulator for IMDS and ARM. The rest of the command
   * is passed on unchanged.
   */
  private async runOnVm(
    command: string,
    vmName: string,
  ): Promise<{ code: number | null; stdout: string; stderr: string; ms: number; endedAt: Date }> {
    const [exe, ...args] = command.split(" ");
    if (exe !== "powershell") throw new Error(`the simulated VM runs only powershell commands, not ${exe}`);
    const env = this.probeEnv(vmName);
    const warm = this.options.warmPwsh;
    const r = await (warm ? warm.run(hostCommandFor(args), env, 0) : runToEnd(this.options.pwsh, args, { env: pwshEnv(env) }));
    // The handler stamps the instance view when the command finishes: the program tells this update's run by it.
    return { ...r, ms: r.wallMs, endedAt: new Date() };
  }

  /** What a VM's probe is pointed at: this VM's IMDS, the emulator's ARM and blob endpoints, the capped deadline. */
  private probeEnv(vmName: string): Record<string, string> {
    return {
      IDENTITYLAB_IMDS_ENDPOINT: this.emulator.vm(vmName).imdsBase,
      IDENTITYLAB_ARM_URL: this.emulator.armUrl,
      IDENTITYLAB_BLOB_URL: this.emulator.blobUrl,
      ...(this.options.probeDeadlineSeconds !== undefined
        ? { IDENTITYLAB_DEADLINE_SECONDS: String(this.options.probeDeadlineSeconds) }
        : {}),
    };
  }

  /**
   * What CustomScript 2.1 does with protectedSettings.script: base64, gunzipped when gzipped, written to a file and
   * run by /bin/sh with no arguments (dash on Ubuntu; dash here), with the emulator for IMDS and ARM.
   */
  private async runShOnVm(
    script: string,
    vmName: string,
  ): Promise<{ code: number | null; stdout: string; stderr: string; ms: number; endedAt: Date }> {
    let bytes = Buffer.from(script, "base64");
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
    const run = await runShProbe({
      shell: "dash",
      params: {},
      script: bytes.toString("utf8"),
      env: this.probeEnv(vmName),
    });
    return { code: run.code, stdout: run.stdout, stderr: run.stderr, ms: run.wallMs, endedAt: new Date() };
  }

  /**
   * Deletes what Pulumi created, in the order given (Pulumi's: dependents first),
   * with Azure's rules: a VM takes the parts whose deleteOption is Delete with it,
   * and a resource group takes everything still inside it.
   */
  delete(id: string): string[] {
    const key = id.toLowerCase();
    const thing = this.inventory.get(key);
    if (!thing) return [];
    const removed = [thing.id];
    this.inventory.delete(key);
    if (thing.type === "azure-native:authorization:RoleAssignment") this.emulator.removeRoleAssignment(id.split("/").pop()!);
    if (thing.type === "azure-native:compute:VirtualMachine") {
      this.emulator.removeVm(id.split("/").pop()!);
      this.emulator.setVmIdentity(null);
      for (const [k, part] of this.inventory) {
        if (part.ownedBy?.toLowerCase() === key && part.deleteOption === "Delete") {
          this.inventory.delete(k);
          removed.push(part.id);
        }
      }
    }
    if (thing.type === "azure-native:network:VirtualNetwork") {
      const nicsLeft = [...this.inventory.values()].filter((t) => t.type === "Microsoft.Network/networkInterfaces");
      if (nicsLeft.length > 0) throw new Error(`InUseSubnetCannotBeDeleted: ${nicsLeft.map((n) => n.id).join(", ")} still use the subnet`);
    }
    if (thing.type === "azure-native:resources:ResourceGroup") {
      const prefix = `${key}/`;
      for (const [k, inside] of this.inventory) {
        if (k.startsWith(prefix)) {
          this.inventory.delete(k);
          removed.push(inside.id);
        }
      }
      this.emulator.removeResourceGroup(id.split("/").pop()!);
    }
    return removed;
  }
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}
