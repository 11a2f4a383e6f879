/**
 * What Azure computes and Pulumi's mock runtime does not: one copy, used by the
 * simulated Azure (the rehearsal) and by the mock Azure of the unit tests.
 */

// The mock monitor's wire form of a secret (sdk/nodejs/runtime/rpc.ts specialSigKey / specialSecretSig).
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

/** The mock monitor hands secrets over in their wire form; unwrap them and note where they were. */
export function unwrapSecrets(value: any, path: string, found: string[]): any {
  if (Array.isArray(value)) return value.map((v, i) => unwrapSecrets(v, `${path}[${i}]`, found));
  if (value === null || typeof value !== "object") return value;
  if (value[SECRET_SIG] === SECRET_VALUE) {
    found.push(path);
    return unwrapSecrets(value.value, path, found);
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v, path ? `${path}.${k}` : k, found)]));
}

/** Where each plainly-named resource type lives in ARM. */
export const ARM_COLLECTIONS: Record<string, [provider: string, collection: string]> = {
  "azure-native:network:NetworkSecurityGroup": ["Microsoft.Network", "networkSecurityGroups"],
  "azure-native:network:PublicIPAddress": ["Microsoft.Network", "publicIPAddresses"],
  "azure-native:network:NatGateway": ["Microsoft.Network", "natGateways"],
  "azure-native:network:VirtualNetwork": ["Microsoft.Network", "virtualNetworks"],
  "azure-native:compute:VirtualMachine": ["Microsoft.Compute", "virtualMachines"],
  "azure-native:managedidentity:UserAssignedIdentity": ["Microsoft.ManagedIdentity", "userAssignedIdentities"],
  "azure-native:storage:StorageAccount": ["Microsoft.Storage", "storageAccounts"],
};

/**
 * azure-native's autonaming appends 8 random hex characters to the logical name;
 * a hash of the name stands in for them, so offline runs name things the same way every time.
 */
export function autoname(logical: string): string {
  let h = 0;
  for (const c of logical) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `${logical}${h.toString(16).padStart(8, "0").slice(0, 8)}`;
}

/** The Custom Script Extension handler keeps the last 4,096 bytes of each stream. */
export const CSE_OUTPUT_TAIL_BYTES = 4096;

export interface ScriptRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr?: string;
  /**
   * When the command finished, which the handler stamps on its status. Default: now.
   * null: a status without a time, as some of Microsoft's samples show.
   */
  readonly endedAt?: Date | null;
}

/**
 * A Windows CSE instance view as ARM returns it with $expand=instanceView: stdout
 * and stderr as substatuses, each cut to its last 4,096 bytes, and the exit code
 * in the status message, stamped with the time the command finished.
 */
export function cseInstanceView(run: ScriptRun, name = "identity-probe"): unknown {
  const tail = (s: string) => Buffer.from(s, "utf8").subarray(-CSE_OUTPUT_TAIL_BYTES).toString("utf8");
  const state = run.code === 0 ? "succeeded" : "failed";
  const time = run.endedAt === null ? null : (run.endedAt ?? new Date()).toISOString();
  return {
    name,
    type: "Microsoft.Compute.CustomScriptExtension",
    typeHandlerVersion: "1.10.18",
    substatuses: [
      { code: `ComponentStatus/StdOut/${state}`, level: "Info", displayStatus: `Provisioning ${state}`, message: tail(run.stdout) },
      { code: `ComponentStatus/StdErr/${state}`, level: "Info", displayStatus: `Provisioning ${state}`, message: tail(run.stderr ?? "") },
    ],
    statuses: [
      {
        code: `ProvisioningState/${state}`,
        level: run.code === 0 ? "Info" : "Error",
        displayStatus: `Provisioning ${state}`,
        message:
          run.code === 0
            ? "Command execution finished"
            : `Command execution finished, but failed because it returned a non-zero exit code of: '${run.code}'`,
        time,
      },
    ],
  };
}

/**
 * A Linux CustomScript 2.1 instance view: no StdOut/StdErr substatuses, one status whose message carries the last
 * 4 KB of each stream (Azure/custom-script-extension-linux main/cmds.go `maxTailLen`, main/status.go `statusMsg`),
 * stamped with the time the command finished.
 */
export function linuxCseInstanceView(run: ScriptRun, name = "identity-probe"): unknown {
  const tail = (s: string) => Buffer.from(s, "utf8").subarray(-CSE_OUTPUT_TAIL_BYTES).toString("utf8");
  const ok = run.code === 0;
  const time = run.endedAt === null ? null : (run.endedAt ?? new Date()).toISOString();
  return {
    name,
    type: "Microsoft.Azure.Extensions.CustomScript",
    typeHandlerVersion: "2.1.10",
    statuses: [
      {
        code: `ProvisioningState/${ok ? "succeeded" : "failed"}`,
        level: ok ? "Info" : "Error",
        displayStatus: `Provisioning ${ok ? "succeeded" : "failed"}`,
        message: ok
          ? `Enable succeeded: \n[stdout]\n${tail(run.stdout)}\n[stderr]\n${tail(run.stderr ?? "")}`
          : `Enable failed: failed to execute command: command terminated with exit status=${run.code}\n[stdout]\n${tail(run.stdout)}\n[stderr]\n${tail(run.stderr ?? "")}`,
        time,
      },
    ],
  };
}
