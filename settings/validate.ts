/**
 * The lab's settings: defaults, reading from Pulumi config, and validation.
 *
 * Pure on purpose: `validateSettings` takes plain values so the rules are tested
 * without Pulumi's runtime, and every problem is collected so a user fixes their
 * stack config in one pass instead of one `pulumi up` per mistake.
 */

export const PROJECT = "identity-lab";

export type OutboundAccess = "natGateway" | "defaultOutboundAccess";
export type ProbeFailureMode = "fail" | "report";
export type AzureCloud = "public" | "usgovernment" | "china";

export interface LabSettings {
  readonly location: string;
  readonly namePrefix: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly vmSize: string;
  readonly imageSku: string;
  readonly hotpatch: boolean;
  readonly adminUsername: string;
  readonly computerName: string;
  readonly vnetAddressSpace: string;
  readonly subnetAddressPrefix: string;
  readonly outboundAccess: OutboundAccess;
  /** Empty: no public IP and no inbound rule at all. */
  readonly rdpSourceCidr: string;
  readonly probeDeadlineSeconds: number;
  readonly probeRerunToken: string;
  readonly probeFailureMode: ProbeFailureMode;
  readonly cloud: AzureCloud;
}

/**
 * Defaults for every project key. Pulumi.yaml declares the same values for the
 * CLI; a test keeps the two equal, because the mock runtime never applies
 * Pulumi.yaml and a silent mismatch would make tests and `pulumi up` disagree.
 */
export const DEFAULTS = {
  location: "eastus2",
  namePrefix: "idlab",
  vmSize: "Standard_B2s_v2",
  imageSku: "2025-datacenter-azure-edition",
  hotpatch: true,
  adminUsername: "labadmin",
  computerName: "",
  vnetAddressSpace: "10.42.0.0/16",
  subnetAddressPrefix: "10.42.1.0/24",
  outboundAccess: "natGateway",
  rdpSourceCidr: "",
  probeDeadlineSeconds: 900,
  probeRerunToken: "",
  probeFailureMode: "fail",
} as const;

export type ProjectKey = keyof typeof DEFAULTS | "tags";

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

/** What was given, as text; absent keys are undefined. */
export type RawSettings = Partial<Record<ProjectKey, string>> & { cloud?: string };

export class ConfigValidationError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(
      `identity-lab: ${problems.length} configuration problem${problems.length === 1 ? "" : "s"}; ` +
        `nothing was deployed:\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "ConfigValidationError";
  }
}

interface Ipv4Cidr {
  readonly base: number;
  readonly prefix: number;
}

/** Parses `a.b.c.d/n` (or a bare address, as /32); undefined when malformed. */
export function parseIpv4Cidr(text: string): Ipv4Cidr | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(text.trim());
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  if (octets.some((o, i) => o > 255 || (m[i + 1].length > 1 && m[i + 1].startsWith("0")))) return undefined;
  const prefix = m[5] === undefined ? 32 : Number(m[5]);
  if (prefix > 32) return undefined;
  const base = octets.reduce((acc, o) => acc * 256 + o, 0);
  return { base, prefix };
}

function hostBitsClear({ base, prefix }: Ipv4Cidr): boolean {
  const size = 2 ** (32 - prefix);
  return base % size === 0;
}

function contains(outer: Ipv4Cidr, inner: Ipv4Cidr): boolean {
  if (inner.prefix < outer.prefix) return false;
  const size = 2 ** (32 - outer.prefix);
  return Math.floor(inner.base / size) === Math.floor(outer.base / size);
}

const key = (k: string) => `${PROJECT}:${k}`;

/**
 * Applies defaults and checks every rule; returns settings or throws one
 * ConfigValidationError that lists every problem, each naming its key.
 */
export function validateSettings(raw: RawSettings): LabSettings {
  const problems: string[] = [];
  const str = (k: keyof typeof DEFAULTS): string => {
    const v = raw[k];
    return v === undefined ? String(DEFAULTS[k]) : v.trim();
  };

  const location = str("location");
  if (!/^[a-z][a-z0-9]{2,39}$/.test(location)) {
    problems.push(
      `${key("location")}: "${location}" is not an Azure region name; use the lowercase name without spaces, ` +
        `such as "eastus2" or "westeurope" (az account list-locations -o table).`,
    );
  }

  const namePrefix = str("namePrefix");
  if (!/^[a-z](?:[a-z0-9-]{0,10}[a-z0-9])?$/.test(namePrefix)) {
    problems.push(
      `${key("namePrefix")}: "${namePrefix}" must be 1-12 characters of lowercase letters, digits and hyphens, ` +
        `starting with a letter and not ending with a hyphen.`,
    );
  }

  const computerName = str("computerName") || `${namePrefix}-vm`.slice(0, 15).replace(/-+$/, "");
  if (computerName.length > 15) {
    problems.push(`${key("computerName")}: "${computerName}" is ${computerName.length} characters; Windows allows at most 15.`);
  } else if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/.test(computerName)) {
    problems.push(
      `${key("computerName")}: "${computerName}" may hold only letters, digits and inner hyphens ` +
        `(Windows forbids spaces and \` ~ ! @ # $ % ^ & * ( ) = + _ [ ] { } \\ | ; : . ' " , < > / ?).`,
    );
  } else if (/^\d+$/.test(computerName)) {
    problems.push(`${key("computerName")}: "${computerName}" cannot be entirely numeric.`);
  }

  const vmSize = str("vmSize");
  if (!/^Standard_[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*$/.test(vmSize)) {
    problems.push(`${key("vmSize")}: "${vmSize}" is not a VM size name such as "Standard_B2s_v2" or "Standard_D2s_v5".`);
  }

  const imageSku = str("imageSku");
  if (!(IMAGE_SKUS as readonly string[]).includes(imageSku)) {
    problems.push(`${key("imageSku")}: "${imageSku}" must be one of ${IMAGE_SKUS.join(", ")} (Gen2 Windows Server Azure Edition).`);
  }

  const hotpatchText = str("hotpatch");
  if (hotpatchText !== "true" && hotpatchText !== "false") {
    problems.push(`${key("hotpatch")}: "${hotpatchText}" must be true or false.`);
  } else if (hotpatchText === "true" && (IMAGE_SKUS as readonly string[]).includes(imageSku) && !HOTPATCH_SKUS.includes(imageSku)) {
    problems.push(
      `${key("hotpatch")}: ${key("imageSku")} "${imageSku}" cannot be hotpatched; set hotpatch to false ` +
        `or use 2022-datacenter-azure-edition-hotpatch.`,
    );
  }

  const adminUsername = str("adminUsername");
  if (adminUsername.length < 1 || adminUsername.length > 20) {
    problems.push(`${key("adminUsername")}: must be 1-20 characters (got ${adminUsername.length}).`);
  } else if (/[\\/"[\]:|<>+=;,?*@&\s]/.test(adminUsername) || adminUsername.endsWith(".")) {
    problems.push(
      `${key("adminUsername")}: "${adminUsername}" may not contain spaces or \\ / " [ ] : | < > + = ; , ? * @ &, nor end with a period.`,
    );
  } else if (RESERVED_ADMIN_NAMES.includes(adminUsername.toLowerCase())) {
    problems.push(`${key("adminUsername")}: "${adminUsername}" is a name Azure reserves; choose another, such as "labadmin".`);
  }

  const vnetText = str("vnetAddressSpace");
  const vnet = parseIpv4Cidr(vnetText);
  const problemsBeforeVnet = problems.length;
  if (!vnet || !vnetText.includes("/")) {
    problems.push(`${key("vnetAddressSpace")}: "${vnetText}" is not an IPv4 CIDR such as "10.42.0.0/16".`);
  } else if (vnet.prefix < 8 || vnet.prefix > 29) {
    problems.push(`${key("vnetAddressSpace")}: "${vnetText}" must have a prefix length from /8 to /29.`);
  } else if (!hostBitsClear(vnet)) {
    problems.push(`${key("vnetAddressSpace")}: "${vnetText}" has host bits set; Azure wants the network address.`);
  }

  // A subnet can only be checked against a VNet that is itself valid.
  const vnetOk = problems.length === problemsBeforeVnet;
  const subnetText = str("subnetAddressPrefix");
  const subnet = parseIpv4Cidr(subnetText);
  if (!subnet || !subnetText.includes("/")) {
    problems.push(`${key("subnetAddressPrefix")}: "${subnetText}" is not an IPv4 CIDR such as "10.42.1.0/24".`);
  } else if (subnet.prefix > 29) {
    problems.push(`${key("subnetAddressPrefix")}: "${subnetText}" is smaller than /29, the smallest subnet Azure allows.`);
  } else if (!hostBitsClear(subnet)) {
    problems.push(`${key("subnetAddressPrefix")}: "${subnetText}" has host bits set; Azure wants the network address.`);
  } else if (vnet && vnetOk && !contains(vnet, subnet)) {
    problems.push(`${key("subnetAddressPrefix")}: "${subnetText}" must lie inside ${key("vnetAddressSpace")} "${vnetText}".`);
  }

  const outboundAccess = str("outboundAccess");
  if (outboundAccess !== "natGateway" && outboundAccess !== "defaultOutboundAccess") {
    problems.push(
      `${key("outboundAccess")}: "${outboundAccess}" must be "natGateway" or "defaultOutboundAccess"; ` +
        `the probe must reach ARM, and new VNets no longer get default outbound access.`,
    );
  }

  const rdpSourceCidr = str("rdpSourceCidr");
  if (rdpSourceCidr !== "") {
    const rdp = parseIpv4Cidr(rdpSourceCidr);
    if (["*", "internet", "any"].includes(rdpSourceCidr.toLowerCase()) || (rdp && rdp.prefix === 0)) {
      problems.push(
        `${key("rdpSourceCidr")}: "${rdpSourceCidr}" would open RDP to the whole Internet; give your own address, e.g. "203.0.113.7/32".`,
      );
    } else if (!rdp) {
      problems.push(`${key("rdpSourceCidr")}: "${rdpSourceCidr}" is not an IPv4 address or CIDR such as "203.0.113.7/32".`);
    } else if (!hostBitsClear(rdp)) {
      problems.push(`${key("rdpSourceCidr")}: "${rdpSourceCidr}" has host bits set; write the network address.`);
    }
  }

  const deadlineText = str("probeDeadlineSeconds");
  const probeDeadlineSeconds = Number(deadlineText);
  if (!/^\d+$/.test(deadlineText) || probeDeadlineSeconds < 60 || probeDeadlineSeconds > 5400) {
    problems.push(
      `${key("probeDeadlineSeconds")}: "${deadlineText}" must be a whole number of seconds from 60 ` +
        `(RBAC takes minutes to propagate) to 5400 (the Custom Script Extension's 90-minute limit).`,
    );
  }

  const probeRerunToken = str("probeRerunToken");
  if (!/^[A-Za-z0-9._-]{0,64}$/.test(probeRerunToken)) {
    problems.push(`${key("probeRerunToken")}: must be at most 64 letters, digits, ".", "_" or "-".`);
  }

  const probeFailureMode = str("probeFailureMode");
  if (probeFailureMode !== "fail" && probeFailureMode !== "report") {
    problems.push(`${key("probeFailureMode")}: "${probeFailureMode}" must be "fail" (a failed probe fails the update) or "report".`);
  }

  const tags = validateTags(raw.tags, problems);

  const cloud = (raw.cloud ?? "public").trim().toLowerCase();
  if (!(cloud in ARM_ENDPOINTS)) {
    problems.push(`azure-native:environment: "${raw.cloud}" must be one of ${Object.keys(ARM_ENDPOINTS).join(", ")}.`);
  }

  if (problems.length > 0) throw new ConfigValidationError(problems);

  return {
    location,
    namePrefix,
    tags,
    vmSize,
    imageSku,
    hotpatch: hotpatchText === "true",
    adminUsername,
    computerName,
    vnetAddressSpace: vnetText,
    subnetAddressPrefix: subnetText,
    outboundAccess: outboundAccess as OutboundAccess,
    rdpSourceCidr,
    probeDeadlineSeconds,
    probeRerunToken,
    probeFailureMode: probeFailureMode as ProbeFailureMode,
    cloud: cloud as AzureCloud,
  };
}

/** Azure's tag limits: 50 per resource, names <= 512, values <= 256, no < > % & \ ? / in names. */
function validateTags(text: string | undefined, problems: string[]): Record<string, string> {
  if (text === undefined || text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    problems.push(`${key("tags")}: is not a map of names to strings (set it with: pulumi config set --path tags.owner alice).`);
    return {};
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    problems.push(`${key("tags")}: must be a map of names to strings, not ${Array.isArray(parsed) ? "a list" : typeof parsed}.`);
    return {};
  }
  const entries = Object.entries(parsed as Record<string, unknown>);
  if (entries.length > 45) {
    problems.push(`${key("tags")}: ${entries.length} tags; keep to 45 (Azure allows 50 and the lab adds its own).`);
  }
  const tags: Record<string, string> = {};
  for (const [name, value] of entries) {
    if (typeof value !== "string") {
      problems.push(`${key("tags")}.${name}: must be a string (got ${value === null ? "null" : typeof value}).`);
    } else if (name.length === 0 || name.length > 512 || /[<>%&\\?/]/.test(name)) {
      problems.push(`${key("tags")}: tag name "${name}" must be 1-512 characters without < > % & \\ ? /.`);
    } else if (value.length > 256) {
      problems.push(`${key("tags")}.${name}: value is ${value.length} characters; Azure allows 256.`);
    } else {
      tags[name] = value;
    }
  }
  return tags;
}
