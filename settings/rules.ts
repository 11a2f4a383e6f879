/**
 * One rule per setting, and the cross-field rules, each exported and testable alone.
 * A rule takes the (trimmed) text and a namer for keys, and returns its problem or undefined.
 * Values are quoted with show(), so invisible and look-alike characters appear escaped.
 */
import {
  ARM_ENDPOINTS,
  HOTPATCH_SKUS,
  IMAGE_SKUS,
  LAB_TAG_NAMES,
  MAX_PROBE_DEADLINE_SECONDS,
  MAX_USER_TAGS,
  MIN_PROBE_DEADLINE_SECONDS,
  CSE_LIMIT_SECONDS,
  CSE_MARGIN_SECONDS,
  NON_UNICAST_SOURCES,
  RDP_WIDEST_PREFIX,
  RESERVED_ADMIN_NAMES,
  SUGGESTED_SERIES,
  TAG_HEADROOM,
  TAG_LIMITS,
  TRUSTED_LAUNCH_SERIES,
  VNET_RESERVED_RANGES,
  type ReservedRange,
} from "./azureFacts";
import { contains, hostBitsClear, overlaps, parseIpv4Cidr, size, type Ipv4Cidr } from "./cidr";
import { DEFAULTS, PROJECT, type AzureCloud } from "./schema";
import { INVISIBLE, show } from "./text";

/** Names a key in messages: `<project>:<key>`. */
export type Namer = (k: string) => string;

export const namer =
  (project: string = PROJECT): Namer =>
  (k) =>
    `${project}:${k}`;

const defaultKey = namer();

export function checkLocation(location: string, key: Namer = defaultKey): string | undefined {
  if (/^[a-z][a-z0-9]{2,39}$/.test(location)) return undefined;
  return (
    `${key("location")}: ${show(location)} is not an Azure region name; use the lowercase name without spaces, ` +
    `such as "eastus2" or "westeurope" (az account list-locations -o table).`
  );
}

/**
 * The provider's default region (azure-native:location) against the lab's. The lab places every
 * resource at its own `location`, and Pulumi fills that key from Pulumi.yaml's default when the
 * stack leaves it out, so a provider region that differs would be silently ignored: refuse it and
 * name both keys. (Region names are compared as ARM does: case and spaces aside.)
 */
export function checkProviderLocation(providerLocation: string | undefined, location: string, key: Namer = defaultKey): string | undefined {
  if (providerLocation === undefined || providerLocation.trim() === "") return undefined;
  const norm = (s: string) => s.toLowerCase().replace(/\s+/g, "");
  if (norm(providerLocation) === norm(location)) return undefined;
  return (
    `azure-native:location: ${show(providerLocation)} differs from ${key("location")} ${show(location)}; the lab puts every resource ` +
    `at ${key("location")} (its default is ${DEFAULTS.location} when unset), so set it to the same region ` +
    `(pulumi config set location ${norm(providerLocation)}) or remove azure-native:location.`
  );
}

export function checkNamePrefix(namePrefix: string, key: Namer = defaultKey): string | undefined {
  if (/^[a-z](?:[a-z0-9-]{0,10}[a-z0-9])?$/.test(namePrefix)) return undefined;
  return (
    `${key("namePrefix")}: ${show(namePrefix)} must be 1-12 characters of lowercase letters, digits and hyphens, ` +
    `starting with a letter and not ending with a hyphen.`
  );
}

/** Windows' default when computerName is empty: "<namePrefix>-vm", cut to 15 characters. */
export function defaultComputerName(namePrefix: string): string {
  return `${namePrefix}-vm`.slice(0, 15).replace(/-+$/, "");
}

export function checkComputerName(computerName: string, key: Namer = defaultKey): string | undefined {
  if (computerName.length > 15) {
    return `${key("computerName")}: ${show(computerName)} is ${computerName.length} characters; Windows allows at most 15.`;
  }
  if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/.test(computerName)) {
    return (
      `${key("computerName")}: ${show(computerName)} may hold only letters, digits and inner hyphens ` +
      `(Windows forbids spaces and \` ~ ! @ # $ % ^ & * ( ) = + _ [ ] { } \\ | ; : . ' " , < > / ?).`
    );
  }
  if (/^\d+$/.test(computerName)) return `${key("computerName")}: ${show(computerName)} cannot be entirely numeric.`;
  return undefined;
}

/** The size as Azure spells it, if `text` differs only in case or a missing "Standard_" prefix. */
function canonicalSize(text: string): string | undefined {
  const m = /^(?:standard_)?([a-z]+)(\d+(?:-\d+)?)([a-z]*)((?:_[a-z0-9]+)*)$/i.exec(text);
  if (!m) return undefined;
  return `Standard_${m[1].toUpperCase()}${m[2]}${m[3].toLowerCase()}${m[4].toLowerCase()}`;
}

export function isTrustedLaunchSize(vmSize: string): boolean {
  return TRUSTED_LAUNCH_SERIES.some((s) => s.sizes.test(vmSize));
}

export function checkVmSize(vmSize: string, key: Namer = defaultKey): string | undefined {
  if (isTrustedLaunchSize(vmSize)) return undefined;
  const canonical = canonicalSize(vmSize);
  let suggestion: string;
  if (canonical && isTrustedLaunchSize(canonical)) {
    suggestion = canonical;
  } else {
    const m = /^(?:standard_)?([a-z]+?)(\d+)/i.exec(vmSize);
    const series = m ? SUGGESTED_SERIES[m[1].toUpperCase().charAt(0)] : undefined;
    const vcpus = Number(m?.[2]);
    suggestion = series ? series.size(series.vcpus.includes(vcpus) ? vcpus : 2) : "Standard_B2s_v2";
  }
  return (
    `${key("vmSize")}: ${show(vmSize)} is not a VM size this lab can use: the VM is Gen2 with Trusted Launch on an x64 image, ` +
    `so its size must be in the series of settings/azureFacts.ts (from Microsoft's "Trusted Launch for Azure virtual machines", ` +
    `Virtual machines sizes: ${TRUSTED_LAUNCH_SERIES.map((s) => s.series).join("; ")}). Try "${suggestion}".`
  );
}

export function checkImageSku(imageSku: string, key: Namer = defaultKey): string | undefined {
  if ((IMAGE_SKUS as readonly string[]).includes(imageSku)) return undefined;
  return `${key("imageSku")}: ${show(imageSku)} must be one of ${IMAGE_SKUS.join(", ")} (Gen2 Windows Server Azure Edition).`;
}

export function checkHotpatch(hotpatch: string, imageSku: string, key: Namer = defaultKey): string | undefined {
  if (hotpatch !== "true" && hotpatch !== "false") return `${key("hotpatch")}: ${show(hotpatch)} must be true or false.`;
  if (hotpatch === "true" && (IMAGE_SKUS as readonly string[]).includes(imageSku) && !HOTPATCH_SKUS.includes(imageSku)) {
    return (
      `${key("hotpatch")}: ${key("imageSku")} ${show(imageSku)} cannot be hotpatched; set hotpatch to false ` +
      `or use 2022-datacenter-azure-edition-hotpatch.`
    );
  }
  return undefined;
}

export function checkAdminUsername(adminUsername: string, key: Namer = defaultKey): string | undefined {
  if (adminUsername.length < 1 || adminUsername.length > 20) {
    return `${key("adminUsername")}: must be 1-20 characters (got ${adminUsername.length}).`;
  }
  if (/[\\/"[\]:|<>+=;,?*@&\s]/.test(adminUsername) || adminUsername.endsWith(".") || INVISIBLE.test(adminUsername)) {
    return (
      `${key("adminUsername")}: ${show(adminUsername)} may not contain spaces, invisible characters or ` +
      `\\ / " [ ] : | < > + = ; , ? * @ &, nor end with a period.`
    );
  }
  if (RESERVED_ADMIN_NAMES.includes(adminUsername.toLowerCase())) {
    return `${key("adminUsername")}: ${show(adminUsername)} is a name Azure reserves; choose another, such as "labadmin".`;
  }
  return undefined;
}

function reservedOverlap(cidr: Ipv4Cidr, ranges: readonly ReservedRange[]): ReservedRange | undefined {
  return ranges.find((r) => overlaps(cidr, parseIpv4Cidr(r.cidr)!));
}

const VNET_FAQ = `Microsoft's VNet FAQ, "What address ranges can I use in my virtual networks?"`;

/** The VNet's range; returns the parsed block when it is usable, for the subnet's check. */
export function checkVnetAddressSpace(text: string, key: Namer = defaultKey): { problem?: string; vnet?: Ipv4Cidr } {
  const vnet = parseIpv4Cidr(text);
  const k = key("vnetAddressSpace");
  if (!vnet || !text.includes("/")) return { problem: `${k}: ${show(text)} is not an IPv4 CIDR such as "10.42.0.0/16".` };
  if (vnet.prefix < 8 || vnet.prefix > 29) return { problem: `${k}: ${show(text)} must have a prefix length from /8 to /29.` };
  if (!hostBitsClear(vnet)) return { problem: `${k}: ${show(text)} has host bits set; Azure wants the network address.` };
  const reserved = reservedOverlap(vnet, VNET_RESERVED_RANGES);
  if (reserved) {
    return {
      problem: `${k}: ${show(text)} overlaps ${reserved.cidr} (${reserved.why}), which Azure refuses in a VNet (${VNET_FAQ}); use a private range such as "10.42.0.0/16".`,
    };
  }
  return { vnet };
}

/** The subnet; inside the VNet only checked when the VNet itself is usable. */
export function checkSubnetAddressPrefix(
  text: string,
  vnet: Ipv4Cidr | undefined,
  vnetText: string,
  key: Namer = defaultKey,
): string | undefined {
  const subnet = parseIpv4Cidr(text);
  const k = key("subnetAddressPrefix");
  if (!subnet || !text.includes("/")) return `${k}: ${show(text)} is not an IPv4 CIDR such as "10.42.1.0/24".`;
  if (subnet.prefix > 29) return `${k}: ${show(text)} is smaller than /29, the smallest subnet Azure allows.`;
  if (!hostBitsClear(subnet)) return `${k}: ${show(text)} has host bits set; Azure wants the network address.`;
  const reserved = reservedOverlap(subnet, VNET_RESERVED_RANGES);
  if (reserved) return `${k}: ${show(text)} overlaps ${reserved.cidr} (${reserved.why}), which Azure refuses in a VNet (${VNET_FAQ}).`;
  if (vnet && !contains(vnet, subnet)) return `${k}: ${show(text)} must lie inside ${key("vnetAddressSpace")} ${show(vnetText)}.`;
  return undefined;
}

export function checkOutboundAccess(outboundAccess: string, key: Namer = defaultKey): string | undefined {
  if (outboundAccess === "natGateway" || outboundAccess === "defaultOutboundAccess") return undefined;
  return (
    `${key("outboundAccess")}: ${show(outboundAccess)} must be "natGateway" or "defaultOutboundAccess"; ` +
    `the probe must reach ARM, and new VNets no longer get default outbound access.`
  );
}

/** Empty means no RDP at all. Otherwise one address or a prefix of /24 or narrower, never a wide range. */
export function checkRdpSourceCidr(text: string, key: Namer = defaultKey): string | undefined {
  return checkSourceCidr(text, key("rdpSourceCidr"), "RDP");
}

/** Linux setups' SSH opt-in: the same rule as rdpSourceCidr (setups-design §1). */
export function checkSshSourceCidr(text: string, key: Namer = defaultKey): string | undefined {
  return checkSourceCidr(text, key("sshSourceCidr"), "SSH");
}

/** An inbound source for `service`: empty (none), one address, or a prefix of /RDP_WIDEST_PREFIX or narrower. */
function checkSourceCidr(text: string, k: string, service: "RDP" | "SSH"): string | undefined {
  if (text === "") return undefined;
  const cidr = parseIpv4Cidr(text);
  if (["*", "internet", "any"].includes(text.toLowerCase()) || (cidr && cidr.prefix === 0)) {
    return `${k}: ${show(text)} would open ${service} to the whole Internet; give your own address, e.g. "203.0.113.7/32".`;
  }
  if (!cidr) return `${k}: ${show(text)} is not an IPv4 address or CIDR such as "203.0.113.7/32".`;
  if (cidr.prefix < RDP_WIDEST_PREFIX) {
    return (
      `${k}: ${show(text)} opens ${service} to ${size(cidr).toLocaleString("en-US")} addresses; allow one address (e.g. "203.0.113.7") ` +
      `or a prefix no wider than /${RDP_WIDEST_PREFIX} (256 addresses).`
    );
  }
  if (!hostBitsClear(cidr)) return `${k}: ${show(text)} has host bits set; write the network address.`;
  const special = reservedOverlap(cidr, NON_UNICAST_SOURCES);
  if (special)
    return `${k}: ${show(text)} is in ${special.cidr} (${special.why}); no ${service} client connects from there. Give your own public address.`;
  return undefined;
}

export function checkBoolean(text: string, name: string, key: Namer = defaultKey): string | undefined {
  if (text === "true" || text === "false") return undefined;
  return `${key(name)}: ${show(text)} must be true or false.`;
}

/**
 * Key types Azure accepts for a Linux VM's SSH key: RSA of at least 2048 bits, and Ed25519. Source: Microsoft
 * Learn, "Detailed steps: Create and manage SSH keys for authentication to a Linux VM in Azure", "Supported SSH
 * key formats" (https://learn.microsoft.com/azure/virtual-machines/linux/create-ssh-keys-detailed); ECDSA and
 * DSA keys are not supported there.
 */
export const SSH_KEY_TYPES = ["ssh-rsa", "ssh-ed25519"] as const;
export const MIN_RSA_BITS = 2048;

/** Reads the SSH wire format's length-prefixed strings (RFC 4253 §6.6). */
function sshFields(blob: Buffer): Buffer[] | undefined {
  const fields: Buffer[] = [];
  let at = 0;
  while (at < blob.length) {
    if (at + 4 > blob.length) return undefined;
    const n = blob.readUInt32BE(at);
    if (at + 4 + n > blob.length) return undefined;
    fields.push(blob.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return fields;
}

/** An OpenSSH public key line: `<type> <base64 key blob> [comment]`, the blob naming the same type. Empty: generate one. */
export function checkSshPublicKey(text: string, key: Namer = defaultKey): string | undefined {
  if (text === "") return undefined;
  const k = key("sshPublicKey");
  if (/PRIVATE KEY/.test(text)) return `${k}: is a private key; give the public key (the .pub file), and keep the private key to yourself.`;
  const m = /^(\S+) ([A-Za-z0-9+/]+={0,2})(?: [^\r\n]*)?$/.exec(text);
  if (!m) return `${k}: is not an OpenSSH public key line ("ssh-ed25519 AAAA… comment", the content of a .pub file).`;
  const type = m[1];
  if (!(SSH_KEY_TYPES as readonly string[]).includes(type)) {
    return `${k}: ${show(type)} keys are not supported by Azure for Linux VMs; use ${SSH_KEY_TYPES.join(" or ")} (ssh-keygen -t ed25519).`;
  }
  const fields = sshFields(Buffer.from(m[2], "base64"));
  if (!fields || fields.length === 0 || fields[0].toString("latin1") !== type) {
    return `${k}: the key data is not a well-formed ${type} key (its base64 is cut or corrupted).`;
  }
  if (type === "ssh-ed25519" && (fields.length !== 2 || fields[1].length !== 32)) {
    return `${k}: the key data is not a well-formed ssh-ed25519 key (32 bytes of key expected).`;
  }
  if (type === "ssh-rsa") {
    if (fields.length !== 3) return `${k}: the key data is not a well-formed ssh-rsa key.`;
    const n = fields[2];
    const bits = Math.max(0, (n.length - (n[0] === 0 ? 1 : 0)) * 8 - Math.clz32(n[n[0] === 0 ? 1 : 0] ?? 0) + 24);
    if (bits < MIN_RSA_BITS) return `${k}: the RSA key has ${bits} bits; Azure wants at least ${MIN_RSA_BITS} (or use ssh-ed25519).`;
  }
  return undefined;
}

export function checkProbeDeadlineSeconds(text: string, key: Namer = defaultKey): string | undefined {
  const n = Number(text);
  if (/^\d+$/.test(text) && n >= MIN_PROBE_DEADLINE_SECONDS && n <= MAX_PROBE_DEADLINE_SECONDS) return undefined;
  return (
    `${key("probeDeadlineSeconds")}: ${show(text)} must be a whole number of seconds from ${MIN_PROBE_DEADLINE_SECONDS} ` +
    `(RBAC takes minutes to propagate) to ${MAX_PROBE_DEADLINE_SECONDS}, which leaves ${CSE_MARGIN_SECONDS / 60} minutes under the ` +
    `Custom Script Extension's 90-minute (${CSE_LIMIT_SECONDS} s) limit for its download, start and report.`
  );
}

export function checkProbeRerunToken(token: string, key: Namer = defaultKey): string | undefined {
  if (/^[A-Za-z0-9._-]{0,64}$/.test(token)) return undefined;
  return `${key("probeRerunToken")}: ${show(token)} must be at most 64 letters, digits, ".", "_" or "-".`;
}

export function checkProbeFailureMode(mode: string, key: Namer = defaultKey): string | undefined {
  if (mode === "fail" || mode === "report") return undefined;
  return `${key("probeFailureMode")}: ${show(mode)} must be "fail" (a failed probe fails the update) or "report".`;
}

/** azure-native:environment (or ARM_ENVIRONMENT), resolved once to its ARM endpoint. */
export function checkCloud(raw: string | undefined): { problem?: string; cloud?: AzureCloud; armEndpoint?: string } {
  const cloud = (raw ?? "public").trim().toLowerCase();
  if (cloud in ARM_ENDPOINTS) return { cloud: cloud as AzureCloud, armEndpoint: ARM_ENDPOINTS[cloud as AzureCloud] };
  return { problem: `azure-native:environment: ${show(raw ?? "")} must be one of ${Object.keys(ARM_ENDPOINTS).join(", ")}.` };
}

/**
 * The tags map (JSON text, as Pulumi hands a map to the program). Azure's limits (azureFacts.ts
 * TAG_LIMITS), names unique case-insensitively and apart from the lab's own tags, and no invisible
 * characters in names (two tags that print alike). A number or boolean is refused, not coerced:
 * `pulumi config set --path tags.cost 42` stores the number 42, and YAML numbers lose their text
 * (1.10 becomes 1.1), while Azure keeps tags as text.
 */
export function checkTags(text: string | undefined, key: Namer = defaultKey): { problems: string[]; tags: Record<string, string> } {
  const problems: string[] = [];
  const tags: Record<string, string> = {};
  if (text === undefined || text.trim() === "") return { problems, tags };
  const k = key("tags");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    problems.push(`${k}: is not a map of names to strings (set it with: pulumi config set --path tags.owner alice).`);
    return { problems, tags };
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    problems.push(`${k}: must be a map of names to strings, not ${Array.isArray(parsed) ? "a list" : typeof parsed}.`);
    return { problems, tags };
  }
  const entries = Object.entries(parsed as Record<string, unknown>);
  if (entries.length > MAX_USER_TAGS) {
    problems.push(
      `${k}: ${entries.length} tags; keep to ${MAX_USER_TAGS}: Azure allows ${TAG_LIMITS.perResource} per resource, the lab adds its own ` +
        `${LAB_TAG_NAMES.length} (${LAB_TAG_NAMES.join(", ")}) and ${TAG_HEADROOM} stay free for tags Azure Policy adds.`,
    );
  }
  const seen = new Map<string, string>();
  for (const [name, value] of entries) {
    const problem = checkTag(name, value, k, seen);
    if (problem) problems.push(problem);
    else tags[name] = value as string;
    seen.set(name.toLowerCase(), name);
  }
  return { problems, tags };
}

/** One tag; `seen` maps the lowercased names before it to their spelling. */
export function checkTag(
  name: string,
  value: unknown,
  k: string = defaultKey("tags"),
  seen: ReadonlyMap<string, string> = new Map(),
): string | undefined {
  const at = `${k}.${/^[A-Za-z0-9_-]+$/.test(name) ? name : `[${show(name)}]`}`;
  if (typeof value !== "string") {
    const got = value === null ? "null" : typeof value;
    const way =
      typeof value === "number" || typeof value === "boolean"
        ? ` Azure tags are text, and --path stores ${JSON.stringify(value)} as a ${got}; store it as text: ` +
          `pulumi config set --path --type string '${k.slice(k.indexOf(":") + 1)}.${name}' ${JSON.stringify(String(value))} ` +
          `(or quote it in Pulumi.<stack>.yaml).`
        : "";
    return `${at}: must be a string (got ${got}).${way}`;
  }
  if (name.length === 0 || name.length > TAG_LIMITS.nameLength || TAG_LIMITS.forbiddenInName.test(name)) {
    return `${k}: tag name ${show(name)} must be 1-${TAG_LIMITS.nameLength} characters without < > % & \\ ? / (Azure's tag limits).`;
  }
  if (INVISIBLE.test(name)) {
    return `${k}: tag name ${show(name)} holds invisible characters (shown as \\u escapes); it would print like another tag.`;
  }
  const lab = LAB_TAG_NAMES.find((t) => t === name.toLowerCase());
  if (lab) {
    return `${k}: tag name ${show(name)} is one the lab sets itself (${LAB_TAG_NAMES.join(", ")}); Azure tag names ignore case, so choose another name.`;
  }
  const earlier = seen.get(name.toLowerCase());
  if (earlier !== undefined) {
    return `${k}: tag names ${show(earlier)} and ${show(name)} differ only in case; Azure treats tag names case-insensitively, so keep one.`;
  }
  if (value.length > TAG_LIMITS.valueLength) return `${at}: value is ${value.length} characters; Azure allows ${TAG_LIMITS.valueLength}.`;
  if (/\p{Cc}/u.test(value)) return `${at}: value ${show(value)} holds control characters.`;
  return undefined;
}
