/** IPv4 CIDR arithmetic: pure, no Azure knowledge. */

export interface Ipv4Cidr {
  /** The first address as an unsigned 32-bit number. */
  readonly base: number;
  readonly prefix: number;
}

/** Parses `a.b.c.d/n` (or a bare address, as /32); undefined when malformed. Octets with leading zeros are refused (octal in some parsers). */
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

/** Number of addresses in the block. */
export function size({ prefix }: Ipv4Cidr): number {
  return 2 ** (32 - prefix);
}

export function hostBitsClear(cidr: Ipv4Cidr): boolean {
  return cidr.base % size(cidr) === 0;
}

/** Whether every address of `inner` lies in `outer`. */
export function contains(outer: Ipv4Cidr, inner: Ipv4Cidr): boolean {
  if (inner.prefix < outer.prefix) return false;
  return Math.floor(inner.base / size(outer)) === Math.floor(outer.base / size(outer));
}

/** Whether the two blocks share at least one address (for aligned blocks: one contains the other). */
export function overlaps(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  const aEnd = a.base - (a.base % size(a)) + size(a);
  const bEnd = b.base - (b.base % size(b)) + size(b);
  const aStart = a.base - (a.base % size(a));
  const bStart = b.base - (b.base % size(b));
  return aStart < bEnd && bStart < aEnd;
}

export function formatIpv4Cidr({ base, prefix }: Ipv4Cidr): string {
  const octets = [24, 16, 8, 0].map((shift) => Math.floor(base / 2 ** shift) % 256);
  return `${octets.join(".")}/${prefix}`;
}
