import * as pulumi from "@pulumi/pulumi";
import * as network from "@pulumi/azure-native/network";
import type * as inputs from "@pulumi/azure-native/types/input";
import type { OutboundAccess } from "../settings/validate";

export interface LabNetworkArgs {
  /** Resource group that holds the network. */
  readonly resourceGroupName: pulumi.Input<string>;
  /** Azure region of the network. */
  readonly location: pulumi.Input<string>;
  /** The VNet's address space, e.g. "10.42.0.0/16". */
  readonly addressSpace: pulumi.Input<string>;
  /** The VM subnet's prefix, inside addressSpace. */
  readonly subnetPrefix: pulumi.Input<string>;
  /**
   * How the subnet reaches the Internet (the probe must reach ARM). New VNets get no
   * default outbound access any more: "natGateway" adds a NAT gateway with a static
   * public IP; "defaultOutboundAccess" opts the subnet back into Azure's implicit,
   * being-retired outbound IP.
   */
  readonly outboundAccess: OutboundAccess;
  /** Source CIDR allowed to reach RDP (3389). Empty or absent: no inbound allow rule at all. */
  readonly rdpSourceCidr?: string;
  /** Source CIDR allowed to reach SSH (22) on Linux VMs; same rule shape as RDP. Empty or absent: no such rule. */
  readonly sshSourceCidr?: string;
  /** Tags for every network resource. Default: none. */
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/**
 * The VM's network: a VNet with one subnet, an NSG on that subnet that allows
 * nothing inbound unless RDP or SSH is opted into, and explicit outbound access.
 *
 * The NIC is not here: the VM creates it from its own network profile, so that
 * its `deleteOption: Delete` is the only owner of its lifetime (a NIC that Pulumi
 * also managed would vanish behind Pulumi's back when Azure deleted the VM).
 */
export class LabNetwork extends pulumi.ComponentResource {
  public readonly vnetId: pulumi.Output<string>;
  public readonly subnetId: pulumi.Output<string>;
  public readonly nsgId: pulumi.Output<string>;
  /** The NAT gateway's public IP address, when outboundAccess is "natGateway". */
  public readonly natPublicIp: pulumi.Output<string | undefined>;

  /**
   * @param name Logical name; children are `${name}-vnet`, `${name}-nsg`, and with a NAT gateway `${name}-nat` and `${name}-nat-ip`.
   * @param args The address space, the subnet and how it reaches the Internet.
   * @param opts Options for the component; children get `{ parent: this }`.
   */
  constructor(name: string, args: LabNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("identitylab:network:LabNetwork", name, {}, opts);
    const common = { resourceGroupName: args.resourceGroupName, location: args.location, tags: args.tags };

    const rdpRules: inputs.network.SecurityRuleArgs[] = args.rdpSourceCidr
      ? [
          {
            name: "allow-rdp-from-opted-in-source",
            priority: 1000,
            direction: "Inbound",
            access: "Allow",
            protocol: "Tcp",
            sourceAddressPrefix: args.rdpSourceCidr,
            sourcePortRange: "*",
            destinationAddressPrefix: "*",
            destinationPortRange: "3389",
          },
        ]
      : [];
    // Opt-in only, like RDP: the tutorial's NSG (no sshSourceCidr) keeps exactly its rules.
    const sshRules: inputs.network.SecurityRuleArgs[] = args.sshSourceCidr
      ? [
          {
            name: "allow-ssh-from-opted-in-source",
            priority: 1010,
            direction: "Inbound",
            access: "Allow",
            protocol: "Tcp",
            sourceAddressPrefix: args.sshSourceCidr,
            sourcePortRange: "*",
            destinationAddressPrefix: "*",
            destinationPortRange: "22",
          },
        ]
      : [];
    const nsg = new network.NetworkSecurityGroup(`${name}-nsg`, { ...common, securityRules: [...rdpRules, ...sshRules] }, { parent: this });

    let natGateway: network.NatGateway | undefined;
    let natIp: network.PublicIPAddress | undefined;
    if (args.outboundAccess === "natGateway") {
      natIp = new network.PublicIPAddress(
        `${name}-nat-ip`,
        { ...common, sku: { name: "Standard", tier: "Regional" }, publicIPAllocationMethod: "Static", publicIPAddressVersion: "IPv4" },
        { parent: this },
      );
      natGateway = new network.NatGateway(
        `${name}-nat`,
        { ...common, sku: { name: "Standard" }, idleTimeoutInMinutes: 4, publicIpAddresses: [{ id: natIp.id }] },
        { parent: this },
      );
    }

    // The subnet is inline: a separate Subnet resource next to an inline list makes
    // the two fight over the VNet's subnets on every update.
    const vnet = new network.VirtualNetwork(
      `${name}-vnet`,
      {
        ...common,
        addressSpace: { addressPrefixes: [args.addressSpace] },
        subnets: [
          {
            name: "vm",
            addressPrefix: args.subnetPrefix,
            networkSecurityGroup: { id: nsg.id },
            natGateway: natGateway ? { id: natGateway.id } : undefined,
            defaultOutboundAccess: args.outboundAccess === "defaultOutboundAccess",
          },
        ],
      },
      { parent: this },
    );

    this.vnetId = vnet.id;
    this.subnetId = vnet.subnets.apply((subnets) => {
      const id = subnets?.[0]?.id;
      if (!id) throw new pulumi.ResourceError("the VNet came back without its subnet's id", this);
      return id;
    });
    this.nsgId = nsg.id;
    this.natPublicIp = natIp ? natIp.ipAddress : pulumi.output(undefined);
    this.registerOutputs({ vnetId: this.vnetId, subnetId: this.subnetId, nsgId: this.nsgId, natPublicIp: this.natPublicIp });
  }
}
