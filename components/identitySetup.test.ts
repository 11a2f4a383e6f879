/**
 * IdentitySetup and IdentityLab with several setups under Pulumi's mock runtime: identities, grants at
 * any scope, the storage account, the dependency graph, and the judge's verdicts in the `setups` output.
 * These tests render the Windows probe through the
 * lab's `renderProbe` seam (renderWindowsProbe itself is tested in probe/delivery.test.ts), which records the specs and hands back a stand-in delivery.
 */
import { gunzipSync } from "node:zlib";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, probeInstanceView, settle, SUBSCRIPTION_ID, uamiIds, valueOf, VM_PRINCIPAL_ID } from "../offline/mockAzure";
import { stdoutWith, successReport } from "../offline/sampleReports";
import { validateSettings, type RawSettings } from "../settings/validate";
import type { GrantProbeSpec, ProbeParameters, WindowsProbeDelivery } from "../probe/command";
import type { GrantReport } from "../probe/report";
import { IdentityLab } from ".";

const azure = installMocks();
let counter = 0;

/** Registrations as the engine sees them: URN, parent and direct dependencies (as offline/rehearse.ts records them). */
interface Registration {
  type: string;
  name: string;
  deps: string[];
  urn?: string;
}
const registrations: Registration[] = [];
const monitor = pulumi.runtime.getMonitor() as any;
const register = monitor.registerResource.bind(monitor);
monitor.registerResource = (req: any, callback: (err: unknown, resp: any) => void) => {
  const reg: Registration = { type: req.getType(), name: req.getName(), deps: req.getDependenciesList() };
  registrations.push(reg);
  return register(req, (err: unknown, resp: any) => {
    if (resp) reg.urn = resp.getUrn();
    callback(err, resp);
  });
};

/** Every URN `urn` waits for, directly or through its dependencies. */
function dependencyClosure(urn: string): Set<string> {
  const seen = new Set<string>();
  const visit = (u: string) => {
    for (const d of registrations.find((r) => r.urn === u)?.deps ?? []) {
      if (!seen.has(d)) {
        seen.add(d);
        visit(d);
      }
    }
  };
  visit(urn);
  return seen;
}

/** A grants-mode report, as scripts/Invoke-IdentityProbe.ps1 writes it (setups-design §3). */
function grantsReport(grants: GrantReport[], ok = true): string {
  return JSON.stringify({
    schema: "identitylab.probe/v1",
    ok,
    resourceGroup: null,
    identity: null,
    permissions: null,
    attempts: { imds: grants.length, resourceGroup: 0, permissions: 0 },
    elapsedSeconds: 21.5,
    trimmed: [],
    error: null,
    grants,
  });
}
const BLOB_READER: GrantReport["perm"] = [
  [
    [
      "Microsoft.Storage/storageAccounts/blobServices/containers/read",
      "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
    ],
    [],
    ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"],
    [],
  ],
];
const READER_BLOCK: GrantReport["perm"] = [[["*/read"], [], [], []]];
const CONTRIBUTOR_BLOCK: GrantReport["perm"] = [[["*"], ["Microsoft.Authorization/*/Write"], [], []]];

const APP = [
  {
    name: "app",
    identity: "userAssigned",
    grants: [
      { role: "Storage Blob Data Reader", scope: "storageAccount" },
      { role: "Reader", scope: "resourceGroup" },
    ],
  },
];

/** The ARM id of the user-assigned identity created last: reports are computed when the probe is read, after it. */
const lastIdentity = () => azure.byType("azure-native:managedidentity:UserAssignedIdentity").slice(-1)[0].id;

async function deploy(raw: RawSettings, reports: Record<string, (rg: string) => string> = {}) {
  const name = `s${++counter}`;
  const rendered: Array<{ params: ProbeParameters; grants: readonly GrantProbeSpec[] }> = [];
  const renderProbe = (_script: string, params: ProbeParameters, grants: readonly GrantProbeSpec[]): WindowsProbeDelivery => {
    rendered.push({ params, grants });
    return grants.length === 0
      ? { commandToExecute: "tutorial" }
      : { commandToExecute: `loader for ${grants.length}`, userData: Buffer.from("probe").toString("base64") };
  };
  const before = azure.registered.length;
  azure.instanceView = (rg: string, vmName: string) => {
    // The setup named vm keeps the lab's own name ("<lab>-vm"); the others are "<lab>-<setup>-vm".
    const setup = Object.keys(reports).find((s) => vmName.startsWith(s === "vm" ? `${name}-vm` : `${name}-${s}-vm`));
    return probeInstanceView(stdoutWith(setup ? reports[setup](rg) : successReport(rg)));
  };
  const lab = new IdentityLab(name, { settings: validateSettings(raw), renderProbe });
  const failures = lab.identitySetups.map((s) => settle(s.probe.failure));
  const setups = await valueOf(lab.setups);
  const mine = azure.registered.slice(before);
  const of = (type: string) => mine.filter((r) => r.type === type);
  const urnOf = (type: string, logical: string) => registrations.find((r) => r.type === type && r.name === logical)!.urn!;
  return { name, lab, setups, mine, of, urnOf, rendered, failures: await Promise.all(failures) };
}

describe("the default stack's setups output", () => {
  test("one setup, vm: its VM, its system identity, Reader proven", async () => {
    const d = await deploy({});
    expect(d.setups).toEqual({
      vm: {
        vmName: expect.stringMatching(new RegExp(`^${d.name}-vm`)),
        os: "windows",
        principalIds: { systemAssigned: VM_PRINCIPAL_ID, userAssigned: null },
        status: "succeeded",
        grants: [
          {
            n: "g0",
            role: "Reader",
            scope: `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/${await valueOf(d.lab.resourceGroupName)}`,
            identity: "systemAssigned",
            verdict: "proven",
            missing: [],
            extra: [],
            problem: null,
          },
        ],
        problem: null,
      },
    });
    // Tutorial mode: no grants handed to the probe, and the VM gets no userData.
    expect(d.rendered.map((r) => r.grants)).toEqual([[]]);
    expect(d.of("azure-native:compute:VirtualMachine")[0].inputs.userData).toBeUndefined();
    expect(d.of("azure-native:storage:StorageAccount")).toHaveLength(0);
    expect(d.of("azure-native:managedidentity:UserAssignedIdentity")).toHaveLength(0);
  });

  test("the tutorial's identity holding Contributor: over-privileged, a warning, and the update goes on", async () => {
    const warn = jest.spyOn(pulumi.log, "warn").mockImplementation(() => Promise.resolve());
    const d = await deploy(
      {},
      { vm: (rg) => successReport(rg, { permissions: [{ actions: ["*"], notActions: [], dataActions: [], notDataActions: [] }] }) },
    );
    expect(d.setups.vm.grants[0]).toMatchObject({ verdict: "overPrivileged", extra: ["*"] });
    expect(d.setups.vm.status).toBe("succeeded");
    expect(d.failures).toEqual([undefined]);
    expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([
      expect.stringMatching(
        /^Over-privileged: g0 \(Reader on .* for systemAssigned\): the identity has more than Reader at this scope: \*/,
      ),
    ]);
    warn.mockRestore();
  });
});

describe("a second setup with a user-assigned identity, a storage grant and a resource-group grant", () => {
  let d: Awaited<ReturnType<typeof deploy>>;
  let rg: string;
  let warn: jest.SpyInstance;
  beforeAll(async () => {
    warn = jest.spyOn(pulumi.log, "warn").mockImplementation(() => Promise.resolve());
    d = await deploy(
      { setups: JSON.stringify([{ name: "vm" }, ...APP]) },
      {
        app: () => {
          const { principalId } = uamiIds(lastIdentity());
          return grantsReport([
            { n: "g0", oid: principalId, read: 200, data: 200, perm: BLOB_READER, cause: null, att: 3 },
            { n: "g1", oid: principalId, read: 200, data: null, perm: CONTRIBUTOR_BLOCK, cause: null, att: 2 },
          ]);
        },
      },
    );
    rg = await valueOf(d.lab.resourceGroupName);
    warn.mockRestore();
  });

  test("one storage account, locked down, and its probe container", () => {
    const [account] = d.of("azure-native:storage:StorageAccount");
    expect(account.inputs).toMatchObject({
      kind: "StorageV2",
      enableHttpsTrafficOnly: true,
      minimumTlsVersion: "TLS1_2",
      allowBlobPublicAccess: false,
      allowSharedKeyAccess: false,
      accountName: `${d.name}stabcd1234`,
    });
    expect(d.of("azure-native:storage:StorageAccount")).toHaveLength(1);
    const [container] = d.of("azure-native:storage:BlobContainer");
    expect(container.inputs).toMatchObject({ containerName: "probe", accountName: account.inputs.accountName, publicAccess: "None" });
  });

  test("the app VM carries the created user-assigned identity only, and the probe's userData", () => {
    const [identity] = d.of("azure-native:managedidentity:UserAssignedIdentity");
    const vms = d.of("azure-native:compute:VirtualMachine");
    expect(vms.map((v) => v.name)).toEqual([`${d.name}-vm`, `${d.name}-app-vm`]);
    expect(vms[1].inputs.identity).toEqual({ type: "UserAssigned", userAssignedIdentities: [identity.id] });
    expect(vms[1].inputs.userData).toBe(Buffer.from("probe").toString("base64"));
    expect(vms[1].inputs.osProfile.computerName).toBe("idlab-app");
    expect(vms[0].inputs.identity).toEqual({ type: "SystemAssigned" });
    expect(vms[0].inputs.osProfile.computerName).toBe("idlab-vm");
  });

  test("the grants' scopes and principals; the user-assigned identity's grants never wait for the VM", () => {
    const assignment = (logical: string) => d.of("azure-native:authorization:RoleAssignment").find((a) => a.name === logical)!;
    const assignments = d.of("azure-native:authorization:RoleAssignment");
    expect(assignments.map((a) => a.name).sort()).toEqual([
      `${d.name}-app-grant0-assignment`,
      `${d.name}-app-grant1-assignment`,
      `${d.name}-reader-assignment`,
    ]);
    const { principalId } = uamiIds(d.of("azure-native:managedidentity:UserAssignedIdentity")[0].id);
    expect(assignment(`${d.name}-app-grant0-assignment`).inputs).toMatchObject({
      principalId,
      scope: d.of("azure-native:storage:StorageAccount")[0].id,
      principalType: "ServicePrincipal",
    });
    expect(assignment(`${d.name}-app-grant1-assignment`).inputs).toMatchObject({
      principalId,
      scope: `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/${rg}`,
    });

    const appVm = d.urnOf("azure-native:compute:VirtualMachine", `${d.name}-app-vm`);
    for (const g of ["grant0", "grant1"]) {
      const deps = dependencyClosure(d.urnOf("azure-native:authorization:RoleAssignment", `${d.name}-app-${g}-assignment`));
      expect(deps).toContain(d.urnOf("azure-native:managedidentity:UserAssignedIdentity", `${d.name}-app-identity`));
      expect(deps).not.toContain(appVm);
    }
    // Control: the system-assigned grant does wait for its VM, and the app's probe for both its grants.
    expect(dependencyClosure(d.urnOf("azure-native:authorization:RoleAssignment", `${d.name}-reader-assignment`))).toContain(
      d.urnOf("azure-native:compute:VirtualMachine", `${d.name}-vm`),
    );
    const probeDeps = dependencyClosure(d.urnOf("azure-native:compute:VirtualMachineExtension", `${d.name}-app-probe-extension`));
    expect(probeDeps).toContain(d.urnOf("azure-native:authorization:RoleAssignment", `${d.name}-app-grant0-assignment`));
    expect(probeDeps).toContain(d.urnOf("azure-native:authorization:RoleAssignment", `${d.name}-app-grant1-assignment`));
  });

  test("the probe is told each grant: scope, identity's client id, proof kind, api-version, container", () => {
    const account = d.of("azure-native:storage:StorageAccount")[0];
    const { clientId } = uamiIds(d.of("azure-native:managedidentity:UserAssignedIdentity")[0].id);
    expect(d.rendered.map((r) => r.grants.length)).toEqual([0, 2]);
    expect(d.rendered[1].grants).toEqual([
      {
        n: "g0",
        s: account.id,
        u: clientId,
        k: "blob",
        v: "2024-01-01",
        b: `https://${account.inputs.accountName}.blob.core.windows.net/probe`,
      },
      { n: "g1", s: `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/${rg}`, u: clientId, k: "arm", v: "2022-09-01", b: "" },
    ]);
  });

  test("the setups output: the storage grant proven, the Reader grant over-privileged (Contributor's *), and no failure by default", () => {
    expect(Object.keys(d.setups)).toEqual(["vm", "app"]);
    expect(d.setups.app).toMatchObject({
      os: "windows",
      principalIds: {
        systemAssigned: null,
        userAssigned: uamiIds(d.of("azure-native:managedidentity:UserAssignedIdentity")[0].id).principalId,
      },
      status: "succeeded",
      problem: null,
    });
    expect(d.setups.app.grants.map((g) => [g.n, g.role, g.verdict])).toEqual([
      ["g0", "Storage Blob Data Reader", "proven"],
      ["g1", "Reader", "overPrivileged"],
    ]);
    expect(d.failures).toEqual([undefined, undefined]);
  });
});

describe("failing grants", () => {
  const run = (raw: RawSettings, g1: Partial<GrantReport>) =>
    deploy(
      { setups: JSON.stringify([{ name: "vm" }, ...APP]), ...raw },
      {
        app: () => {
          const { principalId } = uamiIds(lastIdentity());
          return grantsReport([
            { n: "g0", oid: principalId, read: 200, data: 200, perm: BLOB_READER, cause: null, att: 3 },
            { n: "g1", oid: principalId, read: 200, data: null, perm: READER_BLOCK, cause: null, att: 2, ...g1 },
          ]);
        },
      },
    );

  test("failOnOverPrivilege: over-privilege fails the update as a failed probe does", async () => {
    const d = await run({ failOnOverPrivilege: "true" }, { perm: CONTRIBUTOR_BLOCK });
    const failure = d.failures[1] as pulumi.ResourceError;
    expect(pulumi.ResourceError.isInstance(failure)).toBe(true);
    expect(failure.message).toMatch(/^The identity probe failed: Over-privileged: g1 \(Reader on .* for userAssigned\)/);
    expect(failure.message).toMatch(/set failOnOverPrivilege to false/);
    expect(d.setups.app).toMatchObject({ status: "failed", problem: { cause: expect.stringMatching(/^Over-privileged/) } });
    expect(d.failures[0]).toBeUndefined();
  });

  test("the token of another identity (IMDS defaulted to the system one): missing, and the update fails", async () => {
    const d = await run({}, { oid: VM_PRINCIPAL_ID });
    expect(d.setups.app.grants[1]).toMatchObject({
      verdict: "missing",
      problem: expect.stringMatching(new RegExp(`token is for object id ${VM_PRINCIPAL_ID}, not the intended userAssigned identity`)),
    });
    expect((d.failures[1] as Error).message).toMatch(/^The identity probe failed: Not every grant is proven: g1/);
  });

  test("a grant without evidence: missing, with its cause", async () => {
    const d = await run({ probeFailureMode: "report" }, { read: 403, perm: null, cause: "AuthorizationFailed" });
    expect(d.setups.app.grants[1]).toMatchObject({ verdict: "missing", problem: "no evidence: AuthorizationFailed (read 403)" });
    expect(d.setups.app.status).toBe("failed");
    expect(d.failures).toEqual([undefined, undefined]);
  });
});

test("an existing user-assigned identity is read, not created, and attached by its id", async () => {
  const existing = `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/shared`;
  const d = await deploy(
    {
      setups: JSON.stringify([
        { name: "vm" },
        { name: "ext", identity: "both", userAssignedIdentityId: existing, grants: [{ role: "Reader", identity: "userAssigned" }] },
      ]),
    },
    {
      ext: () =>
        grantsReport([{ n: "g0", oid: uamiIds(existing).principalId, read: 200, data: null, perm: READER_BLOCK, cause: null, att: 1 }]),
    },
  );
  expect(d.of("azure-native:managedidentity:UserAssignedIdentity")).toHaveLength(0);
  expect(azure.invoked.filter((i) => i.token === "azure-native:managedidentity:getUserAssignedIdentity").slice(-1)[0].inputs).toEqual({
    resourceGroupName: "ids",
    resourceName: "shared",
  });
  const vm = d.of("azure-native:compute:VirtualMachine")[1];
  expect(vm.inputs.identity).toEqual({ type: "SystemAssigned, UserAssigned", userAssignedIdentities: [existing] });
  expect(d.rendered[1].grants[0].u).toBe(uamiIds(existing).clientId);
  expect(d.setups.ext).toMatchObject({
    principalIds: { systemAssigned: VM_PRINCIPAL_ID, userAssigned: uamiIds(existing).principalId },
    grants: [expect.objectContaining({ verdict: "proven" })],
  });
});

describe("a Windows and a Linux setup in one stack", () => {
  let d: Awaited<ReturnType<typeof deploy>>;
  beforeAll(async () => {
    d = await deploy(
      {
        setups: JSON.stringify([{ name: "vm" }, { name: "ops", os: "linux", grants: [{ role: "Reader", scope: "subscription" }] }]),
        sshSourceCidr: "203.0.113.7/32",
      },
      {
        ops: () =>
          grantsReport([{ n: "g0", oid: VM_PRINCIPAL_ID, read: 200, data: null, perm: [[["*/read"], [], [], []]], cause: null, att: 4 }]),
      },
    );
  });

  test("the Linux VM: Ubuntu 24.04 Gen2, Trusted Launch, SSH key only; the Windows one unchanged", () => {
    const [win, linux] = d.of("azure-native:compute:VirtualMachine");
    expect(win.inputs.storageProfile.imageReference.publisher).toBe("MicrosoftWindowsServer");
    expect(linux.name).toBe(`${d.name}-ops-vm`);
    expect(linux.inputs.storageProfile.imageReference).toEqual({
      publisher: "Canonical",
      offer: "ubuntu-24_04-lts",
      sku: "server",
      version: "latest",
    });
    expect(linux.inputs.securityProfile).toEqual({
      securityType: "TrustedLaunch",
      uefiSettings: { secureBootEnabled: true, vTpmEnabled: true },
    });
    expect(linux.inputs.osProfile.linuxConfiguration.disablePasswordAuthentication).toBe(true);
    expect(linux.inputs.osProfile.adminPassword).toBeUndefined();
    // The sh probe carries its grants in the extension's script, so the Linux VM has no userData.
    expect(linux.inputs.userData).toBeUndefined();
  });

  test("each VM gets its own OS's extension; the Linux one runs the sh probe in grants mode, sealed", async () => {
    const [win, linux] = d.of("azure-native:compute:VirtualMachineExtension");
    expect([win.inputs.publisher, win.inputs.type, win.inputs.typeHandlerVersion]).toEqual([
      "Microsoft.Compute",
      "CustomScriptExtension",
      "1.10",
    ]);
    expect([linux.inputs.publisher, linux.inputs.type, linux.inputs.typeHandlerVersion]).toEqual([
      "Microsoft.Azure.Extensions",
      "CustomScript",
      "2.1",
    ]);
    expect(linux.inputs.protectedSettings.commandToExecute).toBeUndefined();
    const script = gunzipSync(Buffer.from(linux.inputs.protectedSettings.script, "base64")).toString("utf8");
    expect(script.split("\n")[0]).toMatch(/^#!\/bin\/sh/);
    expect(script).toMatch(
      /^set -- -SubscriptionId '.*' -ResourceGroupName '.*' -ArmEndpoint 'https:\/\/management\.azure\.com\/' -DeadlineSeconds '900' -Grants '\[\{"n":"g0","s":"\/subscriptions\//m,
    );
  });

  test("SSH opens only because a Linux setup asked for it, from that one source", () => {
    const [nsg] = d.of("azure-native:network:NetworkSecurityGroup");
    const ssh = nsg.inputs.securityRules.filter((r: any) => r.destinationPortRange === "22");
    expect(ssh).toEqual([expect.objectContaining({ access: "Allow", sourceAddressPrefix: "203.0.113.7/32" })]);
  });

  test("both setups are judged by the same verdict: the Linux grant proven", () => {
    expect(d.setups.vm.grants[0].verdict).toBe("proven");
    expect(d.setups.ops).toMatchObject({ os: "linux", status: "succeeded" });
    expect(d.setups.ops.grants).toEqual([expect.objectContaining({ role: "Reader", verdict: "proven" })]);
  });
});
