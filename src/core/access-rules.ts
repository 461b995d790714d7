import { isIP } from "node:net";

/**
 * nginx `allow` / `deny` by address: IPv4 and IPv6 CIDRs ("127.0.0.0/8", "::1", "10.1.2.3").
 * IPv4-mapped IPv6 peers ("::ffff:127.0.0.1", what a dual-stack listener reports) match IPv4 rules.
 */
export class Cidr {
  private constructor(
    readonly text: string,
    private readonly bytes: Uint8Array,
    private readonly bits: number,
  ) {}

  static parse(text: string): Cidr | undefined {
    const [address, prefix, extra] = text.split("/");
    if (extra !== undefined || address === undefined) return undefined;
    const bytes = addressBytes(address);
    if (!bytes) return undefined;
    const max = bytes.length * 8;
    const bits = prefix === undefined ? max : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
    if (!(bits >= 0 && bits <= max)) return undefined;
    return new Cidr(text, bytes, bits);
  }

  matches(peer: Uint8Array): boolean {
    if (peer.length !== this.bytes.length) return false;
    let bits = this.bits;
    for (let i = 0; bits > 0; i++, bits -= 8) {
      const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
      if ((peer[i]! & mask) !== (this.bytes[i]! & mask)) return false;
    }
    return true;
  }
}

/** The 4 or 16 bytes of an address; IPv4-mapped IPv6 comes back as 4 bytes. */
export function addressBytes(address: string): Uint8Array | undefined {
  const kind = isIP(address);
  if (kind === 4) return Uint8Array.from(address.split(".").map(Number));
  if (kind !== 6) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return addressBytes(mapped[1]!);
  let text = address;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4[1]!.split(".").map(Number);
    tail.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
    text = text.slice(0, -v4[1]!.length) + "0";
  }
  const [left, right] = text.split("::");
  const head = left ? left.split(":") : [];
  const rest = right !== undefined ? (right ? right.split(":") : []) : [];
  const groups = head.map((g) => parseInt(g, 16));
  const back = rest.map((g) => parseInt(g, 16));
  if (v4) (right !== undefined ? back : groups).splice(-1, 1, ...tail);
  const fill = 8 - groups.length - back.length;
  const all = [...groups, ...new Array(Math.max(0, fill)).fill(0), ...back];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  return bytes;
}

/**
 * A location's access rules, as nginx's `allow …; deny all;` reads: an address in `allow` passes,
 * then `deny` refuses; with an `allow` list, anything it does not name is refused too.
 */
export class AccessRules {
  constructor(
    private readonly allow: Cidr[] | undefined,
    private readonly deny: Cidr[] | "all" | undefined,
  ) {}

  permits(peer: string | undefined): boolean {
    const bytes = peer ? addressBytes(peer) : undefined;
    if (this.allow && bytes && this.allow.some((c) => c.matches(bytes))) return true;
    if (this.deny === "all") return false;
    if (this.deny && bytes && this.deny.some((c) => c.matches(bytes))) return false;
    return this.allow === undefined;
  }
}
