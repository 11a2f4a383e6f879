/**
 * Pulumi's mock runtime, filled in with what Azure would compute.
 *
 * Mocks copy inputs to outputs and nothing more, so `newResource` supplies the
 * Azure name (from vmName, vmExtensionName, ...), an ARM-style id, the VM's
 * identity, the inline subnets' ids and RandomPassword.result; without them
 * `vm.name` is undefined and the extension read gets `vmName: undefined` silently.
 */
import * as pulumi from "@pulumi/pulumi";
import { ARM_COLLECTIONS, autoname, cseInstanceView, unwrapSecrets } from "./armFacts";

export const SUBSCRIPTION_ID = "11111111-2222-3333-4444-555555555555";
export const TENANT_ID = "99999999-8888-7777-6666-555555555555";
export const VM_PRINCIPAL_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
export const MOCK_PASSWORD = "Mock-Passw0rd!Mock-Passw0rd";
/** What the mock gives a user-assigned identity: ids derived from its ARM id, so two identities differ. */
export function uamiIds(armId: string): { principalId: string; clientId: string } {
  let h = 0;
  for (const c of armId.toLowerCase()) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  const hex = h.toString(16).padStart(8, "0");
  return { principalId: `${hex}-0000-4000-8000-00000000000a`, clientId: `${hex}-0000-4000-8000-00000000000c` };
}

export interface Registered {
  readonly type: string;
  readonly name: string;
  /** Inputs with secrets unwrapped. */
  readonly inputs: Record<string, any>;
  /** Paths of the inputs that reached the engine as secrets, e.g. "protectedSettings". */
  readonly secretPaths: string[];
  readonly id: string;
}

export interface Invoked {
  readonly token: string;
  readonly inputs: Record<string, any>;
}

export interface MockAzure {
  readonly registered: Registered[];
  readonly invoked: Invoked[];
  /** What getVirtualMachineExtension returns as instanceView, or a function of the resource group's and the VM's names. */
  instanceView: unknown;
  byType(type: string): Registered[];
  one(type: string): Registered;
}

export function installMocks(options: { preview?: boolean; project?: string; stack?: string } = {}): MockAzure {
  const registered: Registered[] = [];
  const invoked: Invoked[] = [];
  const azure: MockAzure = {
    registered,
    invoked,
    instanceView: undefined,
    byType: (type) => registered.filter((r) => r.type === type),
    one: (type) => {
      const found = registered.filter((r) => r.type === type);
      if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
      return found[0];
    },
  };
  const sub = `/subscriptions/${SUBSCRIPTION_ID}`;

  pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        const secretPaths: string[] = [];
        const inputs = unwrapSecrets(args.inputs, "", secretPaths);
        let id = `${args.name}_id`;
        const state: Record<string, any> = { ...inputs };
        switch (args.type) {
          case "azure-native:resources:ResourceGroup": {
            state.name = inputs.resourceGroupName ?? autoname(args.name);
            id = `${sub}/resourceGroups/${state.name}`;
            break;
          }
          case "azure-native:authorization:RoleAssignment": {
            state.name = inputs.roleAssignmentName;
            id = `${inputs.scope}/providers/Microsoft.Authorization/roleAssignments/${inputs.roleAssignmentName}`;
            break;
          }
          case "azure-native:compute:VirtualMachineExtension": {
            state.name = inputs.vmExtensionName;
            id = `${sub}/resourceGroups/${inputs.resourceGroupName}/providers/Microsoft.Compute/virtualMachines/${inputs.vmName}/extensions/${inputs.vmExtensionName}`;
            break;
          }
          case "random:index/randomPassword:RandomPassword": {
            state.result = MOCK_PASSWORD;
            break;
          }
          case "random:index/randomString:RandomString": {
            state.result = "abcd1234".slice(0, inputs.length ?? 8);
            break;
          }
          case "azure-native:storage:BlobContainer": {
            state.name = inputs.containerName;
            id = `${sub}/resourceGroups/${inputs.resourceGroupName}/providers/Microsoft.Storage/storageAccounts/${inputs.accountName}/blobServices/default/containers/${inputs.containerName}`;
            break;
          }
          default: {
            const arm = ARM_COLLECTIONS[args.type];
            if (arm) {
              const nameKey = Object.keys(inputs).find(
                (k) => k.endsWith("Name") && k !== "resourceGroupName" && typeof inputs[k] === "string",
              );
              state.name = (nameKey && inputs[nameKey]) || autoname(args.name);
              id = `${sub}/resourceGroups/${inputs.resourceGroupName}/providers/${arm[0]}/${arm[1]}/${state.name}`;
            }
          }
        }
        if (args.type === "azure-native:network:VirtualNetwork") {
          state.subnets = (inputs.subnets ?? []).map((s: any) => ({ ...s, id: `${id}/subnets/${s.name}` }));
        }
        if (args.type === "azure-native:network:PublicIPAddress") state.ipAddress = "198.51.100.10";
        if (args.type === "azure-native:managedidentity:UserAssignedIdentity") Object.assign(state, uamiIds(id), { tenantId: TENANT_ID });
        if (args.type === "azure-native:compute:VirtualMachine") {
          state.identity = { ...inputs.identity, principalId: VM_PRINCIPAL_ID, tenantId: TENANT_ID };
          state.vmId = "0a1b2c3d-0000-4000-8000-000000000001";
        }
        registered.push({ type: args.type, name: args.name, inputs, secretPaths, id });
        return { id, state };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        invoked.push({ token: args.token, inputs: args.inputs });
        switch (args.token) {
          case "azure-native:authorization:getClientConfig":
            return { subscriptionId: SUBSCRIPTION_ID, tenantId: TENANT_ID, clientId: "c", objectId: "o" };
          case "azure-native:managedidentity:getUserAssignedIdentity": {
            const id = `${sub}/resourceGroups/${args.inputs.resourceGroupName}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${args.inputs.resourceName}`;
            return { id, name: args.inputs.resourceName, ...uamiIds(id), tenantId: TENANT_ID };
          }
          case "azure-native:compute:getVirtualMachineExtension":
            return {
              ...args.inputs,
              name: args.inputs.vmExtensionName,
              instanceView:
                typeof azure.instanceView === "function"
                  ? azure.instanceView(args.inputs.resourceGroupName, args.inputs.vmName)
                  : azure.instanceView,
            };
          default:
            throw new Error(`unmocked invoke ${args.token}`);
        }
      },
    },
    options.project ?? "identity-lab",
    options.stack ?? "dev",
    options.preview ?? false,
  );
  return azure;
}

/** An output's value; rejects when the output does (Output.apply would never call back). */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return (output as unknown as { promise(): Promise<T> }).promise();
}

/**
 * An output's value or its error, with every one of its internal promises handled.
 * A rejecting Output rejects its value, isKnown and isSecret promises; outside tests
 * that is uncaught and fails the update, but jest fails the test file on it. Call it
 * before the output can settle.
 */
export function settle<T>(output: pulumi.Output<T>): Promise<T | Error> {
  const impl = output as unknown as { isKnown: Promise<boolean>; isSecret: Promise<boolean> };
  impl.isKnown.catch(() => undefined);
  impl.isSecret.catch(() => undefined);
  return valueOf(output).then(
    (v) => v,
    (e: Error) => e,
  );
}

/** A transformation that records every resource's type, name, props and options. */
export interface Captured {
  readonly type: string;
  readonly name: string;
  readonly props: Record<string, any>;
  readonly opts: pulumi.CustomResourceOptions;
  readonly resourceIsComponent: boolean;
}

export function capture(into: Captured[]): pulumi.ResourceTransformation {
  return (args) => {
    into.push({
      type: args.type,
      name: args.name,
      props: args.props,
      opts: args.opts as pulumi.CustomResourceOptions,
      resourceIsComponent: !(args.resource instanceof pulumi.CustomResource),
    });
    return undefined;
  };
}

/**
 * A CSE instance view whose probe wrote `stdout` and exited 0, at `endedAt`
 * (default: now, i.e. a run of the update under test; null: no time at all).
 */
export function probeInstanceView(stdout: string, stderr = "", endedAt?: Date | null): unknown {
  return cseInstanceView({ code: 0, stdout, stderr, endedAt });
}

/** A probe on its own, with no role assignment to wait for. */
export const standaloneProbe = {
  resourceGroupName: "rg",
  vmName: "vm",
  location: "eastus2",
  subscriptionId: SUBSCRIPTION_ID,
  targetResourceGroupName: "rg",
  armEndpoint: "https://management.azure.com/",
  deadlineSeconds: 900,
  failureMode: "report" as const,
  waitFor: [],
};
