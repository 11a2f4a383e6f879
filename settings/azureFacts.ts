/**
 * Azure facts the settings are checked against, each with its source. When
 * Microsoft changes one, change it here (and its test's cases).
 */
import type { AzureCloud } from "./schema";

/** Gen2, Azure Edition: the images whose patching and hotpatch settings this lab sets. */
export const IMAGE_SKUS = [
  "2022-datacenter-azure-edition",
  "2022-datacenter-azure-edition-core",
  "2022-datacenter-azure-edition-hotpatch",
  "2025-datacenter-azure-edition",
  "2025-datacenter-azure-edition-core",
] as const;

/**
 * Microsoft's "hotpatchable" list (automatic VM guest patching): the Desktop Experience
 * image of 2022 Azure Edition is not on it, so ARM refuses enableHotpatching there.
 */
export const HOTPATCH_SKUS: readonly string[] = [
  "2022-datacenter-azure-edition-core",
  "2022-datacenter-azure-edition-hotpatch",
  "2025-datacenter-azure-edition",
  "2025-datacenter-azure-edition-core",
];

export const ARM_ENDPOINTS: Readonly<Record<AzureCloud, string>> = {
  public: "https://management.azure.com/",
  usgovernment: "https://management.usgovcloudapi.net/",
  china: "https://management.chinacloudapi.cn/",
};

/** Names Azure refuses for a Windows VM's admin (compute API error "InvalidParameter" on adminUsername). */
export const RESERVED_ADMIN_NAMES = [
  "1",
  "123",
  "a",
  "actuser",
  "adm",
  "admin",
  "admin1",
  "admin2",
  "administrator",
  "aspnet",
  "backup",
  "console",
  "david",
  "guest",
  "john",
  "owner",
  "root",
  "server",
  "sql",
  "support",
  "support_388945a0",
  "sys",
  "test",
  "test1",
  "test2",
  "test3",
  "user",
  "user1",
  "user2",
  "user3",
  "user4",
  "user5",
];

export interface VmSeries {
  /** Microsoft's name for the series, e.g. "Bsv2". */
  readonly series: string;
  /** The size names of the series, e.g. Standard_B2s_v2 and Standard_B2ts_v2. */
  readonly sizes: RegExp;
  readonly example: string;
}

/**
 * The VM sizes this lab's VM can use: it is a Gen2 Trusted Launch VM (components/windowsVm.ts,
 * securityType TrustedLaunch) running an x64 Windows Server Azure Edition image.
 *
 * Source: Microsoft Learn, "Trusted Launch for Azure virtual machines", section "Virtual
 * machines sizes" (https://learn.microsoft.com/azure/virtual-machines/trusted-launch#virtual-machines-sizes,
 * ms.date 04/21/2025), which lists the supported families (B, D, F, Fx, E, Eb, ...) and the ones that
 * are not (A-family, Dv2, Dv3, DC/EC confidential, Dpsv5/Dpdsv5/Dplsv5/Dpldsv5, M-family not yet),
 * plus its 2023 revision that names the series one by one (Dsv2, Dsv3, Dv4 ... Edsv5, Fsv2, FX).
 *
 * Kept to the general-purpose, compute- and memory-optimized x64 series a small lab VM uses:
 * - left out, Arm64 (the "p" series: Bpsv2, Dpsv6, Epsv6): the image is x64;
 * - left out, v6 and newer x64 series (Dsv6, Dasv6, Esv6, Fasv6, ...): their disks are NVMe only,
 *   and this lab's VM sets no disk controller type, a path nothing here has exercised;
 * - left out, GPU, HPC, storage-optimized and M-family: not what this lab is for.
 */
export const TRUSTED_LAUNCH_SERIES: readonly VmSeries[] = [
  { series: "B (v1)", sizes: /^Standard_B\d+(?:ls|s|ms)$/, example: "Standard_B2s" },
  { series: "Bsv2", sizes: /^Standard_B\d+(?:ts|ls|s)_v2$/, example: "Standard_B2s_v2" },
  { series: "Basv2", sizes: /^Standard_B\d+(?:ats|als|as)_v2$/, example: "Standard_B2as_v2" },
  { series: "DSv2", sizes: /^Standard_DS\d+(?:-\d+)?_v2$/, example: "Standard_DS2_v2" },
  { series: "Dsv3", sizes: /^Standard_D\d+s_v3$/, example: "Standard_D2s_v3" },
  { series: "Dv4, Dsv4, Dav4, Dasv4, Ddv4, Ddsv4", sizes: /^Standard_D\d+(?:|s|a|as|d|ds)_v4$/, example: "Standard_D2s_v4" },
  {
    series: "Dv5, Dsv5, Ddv5, Ddsv5, Dasv5, Dadsv5, Dlsv5, Dldsv5",
    sizes: /^Standard_D\d+(?:|s|d|ds|as|ads|ls|lds)_v5$/,
    example: "Standard_D2s_v5",
  },
  { series: "Fsv2", sizes: /^Standard_F\d+s_v2$/, example: "Standard_F2s_v2" },
  { series: "FX", sizes: /^Standard_FX\d+mds$/, example: "Standard_FX4mds" },
  { series: "Esv3", sizes: /^Standard_E\d+(?:-\d+)?s_v3$/, example: "Standard_E2s_v3" },
  { series: "Ev4, Esv4, Edv4, Edsv4, Eav4, Easv4", sizes: /^Standard_E\d+(?:-\d+)?(?:|s|d|ds|a|as)_v4$/, example: "Standard_E2s_v4" },
  {
    series: "Ev5, Esv5, Edv5, Edsv5, Easv5, Eadsv5, Ebsv5, Ebdsv5",
    sizes: /^Standard_E\d+(?:-\d+)?(?:|s|d|ds|as|ads|bs|bds)_v5$/,
    example: "Standard_E2s_v5",
  },
];

/**
 * A current series per family letter, for suggesting a size with the same vCPU count when that
 * size exists (vCPU counts from each series' page on Microsoft Learn), else its 2-vCPU size.
 */
export const SUGGESTED_SERIES: Readonly<Record<string, { readonly size: (vcpus: number) => string; readonly vcpus: readonly number[] }>> = {
  B: { size: (n) => `Standard_B${n}s_v2`, vcpus: [2, 4, 8, 16, 32] },
  D: { size: (n) => `Standard_D${n}s_v5`, vcpus: [2, 4, 8, 16, 32, 48, 64, 96] },
  E: { size: (n) => `Standard_E${n}s_v5`, vcpus: [2, 4, 8, 16, 20, 32, 48, 64, 96] },
  F: { size: (n) => `Standard_F${n}s_v2`, vcpus: [2, 4, 8, 16, 32, 48, 64, 72] },
};

export interface ReservedRange {
  readonly cidr: string;
  readonly why: string;
}

/**
 * Ranges a VNet may not use. Source: Microsoft Learn, "Azure Virtual Network frequently asked
 * questions", "What address ranges can I use in my virtual networks?"
 * (https://learn.microsoft.com/azure/virtual-network/virtual-networks-faq#what-address-ranges-can-i-use-in-my-virtual-networks):
 * "you can't add the following address ranges: 224.0.0.0/4 (multicast), 255.255.255.255/32
 * (broadcast), 127.0.0.0/8 (loopback), 169.254.0.0/16 (link local), 168.63.129.16/32 (internal DNS)".
 */
export const VNET_RESERVED_RANGES: readonly ReservedRange[] = [
  { cidr: "224.0.0.0/4", why: "multicast" },
  { cidr: "255.255.255.255/32", why: "broadcast" },
  { cidr: "127.0.0.0/8", why: "loopback" },
  {
    cidr: "169.254.0.0/16",
    why: "link-local; it would also shadow the instance metadata service at 169.254.169.254, where the probe gets its token",
  },
  { cidr: "168.63.129.16/32", why: "Azure's internal DNS, DHCP and health-probe address (the wire server)" },
];

/**
 * Where no RDP client can connect from (IANA special-purpose registry, RFC 6890):
 * an NSG rule with such a source would never match and hide the real mistake.
 */
export const NON_UNICAST_SOURCES: readonly ReservedRange[] = [
  { cidr: "0.0.0.0/8", why: '"this network"' },
  { cidr: "127.0.0.0/8", why: "loopback" },
  { cidr: "224.0.0.0/4", why: "multicast" },
  { cidr: "240.0.0.0/4", why: "reserved (and the broadcast address)" },
];

/** The widest RDP source accepted: /24 is 256 addresses, an office or home network at most. */
export const RDP_WIDEST_PREFIX = 24;

/**
 * Azure's tag limits. Source: Microsoft Learn, "Use tags to organize your Azure resources and
 * management hierarchy", section "Limitations"
 * (https://learn.microsoft.com/azure/azure-resource-manager/management/tag-resources#limitations):
 * at most 50 tag name-value pairs per resource; a name up to 512 characters and a value up to 256;
 * names can't contain < > % & \ ? /; and "Tag names are case-insensitive for operations".
 */
export const TAG_LIMITS = {
  perResource: 50,
  nameLength: 512,
  valueLength: 256,
  forbiddenInName: /[<>%&\\?/]/,
} as const;

/**
 * The tags every lab resource gets from components/identityLab.ts (a test keeps this list equal to
 * what the component writes). A user tag with one of these names, in any case, would be overwritten
 * or, differing only in case, collide in Azure.
 */
export const LAB_TAG_NAMES: readonly string[] = ["managed-by", "lab", "stack"];

/**
 * Tags left free on each resource for what Azure Policy commonly adds (the "Inherit a tag from the
 * resource group" and "Add a tag" modify effects): a lab at exactly 50 would fail its deployment there.
 */
export const TAG_HEADROOM = 2;

/** The most tags a user may set: 50 - the lab's 3 - headroom 2 = 45. */
export const MAX_USER_TAGS = TAG_LIMITS.perResource - LAB_TAG_NAMES.length - TAG_HEADROOM;

/**
 * The Custom Script Extension's limit. Source: Microsoft Learn, "Custom Script Extension for Windows",
 * "Your script is allowed 90 minutes to run. Anything longer results in a failed provision of the extension."
 */
export const CSE_LIMIT_SECONDS = 90 * 60;

/** Kept free under that limit for the extension's download, PowerShell's start and the final report. */
export const CSE_MARGIN_SECONDS = 5 * 60;

/** RBAC takes minutes to propagate; a shorter wait turns every first run into a false failure. */
export const MIN_PROBE_DEADLINE_SECONDS = 60;

export const MAX_PROBE_DEADLINE_SECONDS = CSE_LIMIT_SECONDS - CSE_MARGIN_SECONDS;
