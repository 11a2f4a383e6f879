/**
 * Pure NSG rule analysis: does an inbound allow rule open a management port (RDP 3389,
 * SSH 22) to a source wider than the lab allows?
 *
 * Field names and values follow ARM's SecurityRule (sourceAddressPrefix(es),
 * destinationPortRange(s), "*" for any, service tags such as "Internet":
 * https://learn.microsoft.com/azure/virtual-network/network-security-groups-overview#security-rules).
 * Anything the analysis cannot read counts as open: a guardrail fails closed.
 */

export const MANAGEMENT_PORTS: readonly number[] = [22, 3389];

/**
 * The lab's narrowness rule: an inbound management source is one address or a network
 * of at most 256 addresses (IPv4 /24 or narrower; IPv6 /120 or narrower).
 */
export const WIDEST_IPV4_PREFIX = 24;
export const WIDEST_IPV6_PREFIX = 120;

/** The ARM SecurityRule fields this analysis reads (inputs as a Pulumi program gives them). */
export interface RuleLike {
  name?: string;
  direction?: string;
  access?: string;
  protocol?: string;
  sourceAddressPrefix?: string;
  sourceAddressPrefixes?: string[];
  sourceApplicationSecurityGroups?: unknown[];
  destinationPortRange?: string;
  destinationPortRanges?: string[];
}

/** Which of `ports` a port spec ("3389", "3000-4000", "*") covers; an unreadable spec covers them all. */
export function portsCovered(spec: string, ports: readonly number[] = MANAGEMENT_PORTS): number[] {
  const s = String(spec).trim();
  if (s === "*") return [...ports];
  const single = /^(\d+)$/.exec(s);
  if (single) return ports.filter((p) => p === Number(single[1]));
  const range = /^(\d+)\s*-\s*(\d+)$/.exec(s);
  if (range) {
    const [lo, hi] = [Number(range[1]), Number(range[2])].sort((a, b) => a - b);
    return ports.filter((p) => p >= lo && p <= hi);
  }
  return [...ports];
}

/** Why a source prefix is too wide for a management port, or undefined when it is narrow enough. */
export function sourceTooWide(prefix: string): string | undefined {
  const p = String(prefix).trim();
  const lower = p.toLowerCase();
  if (lower === "*" || lower === "any") return `"${p}" is any source`;
  if (lower === "internet") return `"${p}" is the whole Internet`;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(p);
  if (v4) {
    if (v4.slice(1, 5).some((o) => Number(o) > 255)) return `"${p}" is not an IPv4 address`;
    const bits = v4[5] === undefined ? 32 : Number(v4[5]);
    if (bits > 32) return `"${p}" is not an IPv4 CIDR`;
    return bits < WIDEST_IPV4_PREFIX ? `"${p}" is wider than /${WIDEST_IPV4_PREFIX}` : undefined;
  }
  const v6 = /^([0-9a-f:.]+)(?:\/(\d{1,3}))?$/i.exec(p);
  if (v6 && v6[1].includes(":")) {
    const bits = v6[2] === undefined ? 128 : Number(v6[2]);
    if (bits > 128) return `"${p}" is not an IPv6 CIDR`;
    return bits < WIDEST_IPV6_PREFIX ? `"${p}" is wider than /${WIDEST_IPV6_PREFIX}` : undefined;
  }
  // Service tags other than Internet (VirtualNetwork, AzureCloud, Storage, ...) stand for networks
  // the lab does not control and whose size it cannot check.
  return `"${p}" is a service tag or unreadable prefix, not an address of at most /${WIDEST_IPV4_PREFIX}`;
}

const is = (value: string | undefined, expected: string) =>
  value === undefined || value === null || String(value).toLowerCase() === expected;

/**
 * The problems of one rule, as sentences; empty when the rule opens no management port
 * to a wide source. Missing direction, access, protocol, ports or sources are read as the
 * widest value (ARM requires them, so a rule without them is not one this pack can vouch for).
 */
export function ruleProblems(rule: RuleLike): string[] {
  if (!is(rule.direction, "inbound") || !is(rule.access, "allow")) return [];
  // ICMP, ESP and AH carry no ports.
  if (!(rule.protocol === undefined || rule.protocol === null || ["tcp", "udp", "*"].includes(String(rule.protocol).toLowerCase())))
    return [];
  const portSpecs = [rule.destinationPortRange, ...(rule.destinationPortRanges ?? [])].filter(
    (s): s is string => s !== undefined && s !== null && s !== "",
  );
  const ports = new Set((portSpecs.length ? portSpecs : ["*"]).flatMap((s) => portsCovered(s)));
  if (ports.size === 0) return [];
  const sources = [rule.sourceAddressPrefix, ...(rule.sourceAddressPrefixes ?? [])].filter(
    (s): s is string => s !== undefined && s !== null && s !== "",
  );
  if (sources.length === 0 && (rule.sourceApplicationSecurityGroups ?? []).length > 0) return [];
  const portText = [...ports].sort((a, b) => a - b).join(" and ");
  return (sources.length ? sources : ["*"]).flatMap((source) => {
    const why = sourceTooWide(source);
    return why ? [`rule "${rule.name ?? "(unnamed)"}" allows inbound port ${portText} from ${why}`] : [];
  });
}
