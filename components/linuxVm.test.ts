/**
 * LinuxVm and the network's SSH rule under Pulumi's mock runtime: what would be sent to Azure.
 */
import { installMocks, MOCK_SSH_PRIVATE_KEY, MOCK_SSH_PUBLIC_KEY, valueOf, VM_PRINCIPAL_ID } from "../offline/mockAzure";
import { LinuxVm, UBUNTU_2404_IMAGE } from "./linuxVm";
import { LabNetwork } from "./network";

const azure = installMocks();
let counter = 0;
const base = {
  resourceGroupName: "rg",
  location: "westus",
  subnetId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/vm",
  vmSize: "Standard_B2s_v2",
  computerName: "lab-vm",
  adminUsername: "labadmin",
};

async function make(extra: Partial<ConstructorParameters<typeof LinuxVm>[1]> = {}) {
  const name = `l${++counter}`;
  const vm = new LinuxVm(name, { identity: "systemAssigned", ...base, ...extra });
  await valueOf(vm.vmId);
  await valueOf(vm.principalId);
  const mine = azure.registered.filter((r) => r.name.startsWith(`${name}-`));
  return { vm, name, mine, inputs: mine.find((r) => r.type === "azure-native:compute:VirtualMachine")!.inputs };
}

describe("LinuxVm", () => {
  test("Ubuntu 24.04 Gen2, Trusted Launch, SSH key only, disk and NIC deleted with the VM", async () => {
    const { inputs } = await make();
    expect(inputs.storageProfile.imageReference).toEqual(UBUNTU_2404_IMAGE);
    expect(UBUNTU_2404_IMAGE).toEqual({ publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" });
    expect(inputs.securityProfile).toEqual({ securityType: "TrustedLaunch", uefiSettings: { secureBootEnabled: true, vTpmEnabled: true } });
    expect(inputs.osProfile.adminPassword).toBeUndefined();
    expect(inputs.osProfile.linuxConfiguration.disablePasswordAuthentication).toBe(true);
    expect(inputs.storageProfile.osDisk.deleteOption).toBe("Delete");
    expect(inputs.networkProfile.networkInterfaceConfigurations[0].deleteOption).toBe("Delete");
    expect(inputs.networkProfile.networkInterfaceConfigurations[0].ipConfigurations[0].publicIPAddressConfiguration).toBeUndefined();
    expect(inputs.identity).toEqual({ type: "SystemAssigned" });
  });

  test("no key given: an Ed25519 key from @pulumi/tls, its public half installed, its private half a secret", async () => {
    const { vm, mine, inputs } = await make();
    const key = mine.find((r) => r.type === "tls:index/privateKey:PrivateKey");
    expect(key?.inputs).toMatchObject({ algorithm: "ED25519" });
    expect(inputs.osProfile.linuxConfiguration.ssh.publicKeys).toEqual([
      { path: "/home/labadmin/.ssh/authorized_keys", keyData: MOCK_SSH_PUBLIC_KEY },
    ]);
    expect(await valueOf(vm.sshPrivateKey)).toBe(MOCK_SSH_PRIVATE_KEY);
    expect(await (vm.sshPrivateKey as any).isSecret).toBe(true);
    expect(await (vm.adminPassword as any).isSecret).toBe(true);
    expect(await valueOf(vm.principalId)).toBe(VM_PRINCIPAL_ID);
  });

  test("the user's public key: installed as given, and no key is generated", async () => {
    const mineKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUserUserUserUserUserUserUserUserUserUser me@laptop";
    const { vm, mine, inputs } = await make({ sshPublicKey: `${mineKey}\n` });
    expect(mine.some((r) => r.type === "tls:index/privateKey:PrivateKey")).toBe(false);
    expect(inputs.osProfile.linuxConfiguration.ssh.publicKeys[0].keyData).toBe(mineKey);
    expect(await valueOf(vm.sshPrivateKey)).toBe("");
  });

  test("user-assigned identities: attached, principalId empty, the same outputs as WindowsVm", async () => {
    const uami = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u";
    const { vm, inputs } = await make({ identity: "userAssigned", userAssignedIdentityIds: [uami], publicIp: true });
    expect(inputs.identity).toEqual({ type: "UserAssigned", userAssignedIdentities: [uami] });
    expect(await valueOf(vm.principalId)).toBe("");
    expect(await valueOf(vm.userAssignedIdentities)).toEqual([uami]);
    expect(await valueOf(vm.vmName)).toBeTruthy();
    expect(inputs.networkProfile.networkInterfaceConfigurations[0].ipConfigurations[0].publicIPAddressConfiguration).toMatchObject({
      deleteOption: "Delete",
      sku: { name: "Standard" },
    });
  });
});

describe("LabNetwork's SSH rule", () => {
  const nsgRules = async (extra: { rdpSourceCidr?: string; sshSourceCidr?: string }) => {
    const name = `n${++counter}`;
    const net = new LabNetwork(name, {
      resourceGroupName: "rg",
      location: "westus",
      addressSpace: "10.42.0.0/16",
      subnetPrefix: "10.42.1.0/24",
      outboundAccess: "natGateway",
      ...extra,
    });
    await valueOf(net.nsgId);
    return azure.registered.find((r) => r.name === `${name}-nsg`)!.inputs.securityRules;
  };

  test("absent: no inbound rule at all (the tutorial's NSG)", async () => {
    expect(await nsgRules({})).toEqual([]);
  });

  test("sshSourceCidr: one Tcp/22 allow from exactly that source, beside an opted-in RDP rule", async () => {
    const rules = await nsgRules({ rdpSourceCidr: "203.0.113.0/24", sshSourceCidr: "198.51.100.7/32" });
    expect(rules.map((r: any) => r.destinationPortRange)).toEqual(["3389", "22"]);
    expect(rules[1]).toEqual({
      name: "allow-ssh-from-opted-in-source",
      priority: 1010,
      direction: "Inbound",
      access: "Allow",
      protocol: "Tcp",
      sourceAddressPrefix: "198.51.100.7/32",
      sourcePortRange: "*",
      destinationAddressPrefix: "*",
      destinationPortRange: "22",
    });
  });
});
