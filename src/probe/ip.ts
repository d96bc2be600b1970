import { BlockList, isIP } from "node:net";

/**
 * Address ranges a model endpoint may never point at unless CONVAI_ALLOW_PRIVATE_URLS is set:
 * Convai's servers call the registered base_url, so these can never work and probing them is SSRF.
 */
const blocked = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8], // unspecified / "this network"
  ["10.0.0.0", 8], // RFC 1918
  ["100.64.0.0", 10], // CGNAT
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local, cloud metadata
  ["172.16.0.0", 12], // RFC 1918
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // TEST-NET-1
  ["192.168.0.0", 16], // RFC 1918
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // TEST-NET-2
  ["203.0.113.0", 24], // TEST-NET-3
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(net, prefix, "ipv4");
}
for (const [net, prefix] of [
  ["::", 128], // unspecified
  ["::1", 128], // loopback
  ["64:ff9b::", 96], // NAT64 (embeds an IPv4 address)
  ["64:ff9b:1::", 48], // local-use NAT64
  ["2001::", 32], // Teredo (embeds an IPv4 address)
  ["2002::", 16], // 6to4 (embeds an IPv4 address)
  ["100::", 64], // discard
  ["2001:db8::", 32], // documentation
  ["fc00::", 7], // unique local (ULA)
  ["fe80::", 10], // link-local
  ["fec0::", 10], // deprecated site-local
  ["ff00::", 8], // multicast
] as const) {
  blocked.addSubnet(net, prefix, "ipv6");
}

/** Strips IPv6 brackets and a zone id: `[fe80::1%eth0]` → `fe80::1`. */
export function bareAddress(host: string): string {
  const unbracketed = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const zone = unbracketed.indexOf("%");
  return zone === -1 ? unbracketed : unbracketed.slice(0, zone);
}

/** The IPv4 address embedded in an IPv4-mapped or IPv4-compatible IPv6 address, if any. */
function embeddedIPv4(ip: string): string | undefined {
  // The URL parser compresses `0:0:0:0:0:ffff:7f00:1` to `::ffff:7f00:1`, so one pattern fits every spelling.
  const lower = URL.canParse(`http://[${ip}]`)
    ? new URL(`http://[${ip}]`).hostname.slice(1, -1)
    : ip.toLowerCase();
  const dotted = /^(?:::ffff:(?:0:)?|::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted?.[1]) return dotted[1];
  const hex = /^(?:::ffff:(?:0:)?|::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex?.[1] && hex[2]) {
    const hi = Number.parseInt(hex[1], 16);
    const lo = Number.parseInt(hex[2], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return undefined;
}

/** True for loopback, private, link-local, CGNAT, multicast, unspecified and reserved addresses. */
export function isPrivateAddress(address: string): boolean {
  const ip = bareAddress(address);
  const family = isIP(ip);
  if (family === 4) return blocked.check(ip, "ipv4");
  if (family === 6) {
    const v4 = embeddedIPv4(ip);
    // A mapped or compatible form is refused whatever it embeds: no public endpoint needs one, and
    // resolvers and HTTP stacks disagree on how to route them.
    if (v4 !== undefined) return true;
    return blocked.check(ip, "ipv6");
  }
  return false;
}

/** Host names that always mean this machine or its network, whatever DNS says. */
export function isLocalHostname(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  return (
    h === "localhost" ||
    h.endsWith(".localhost") ||
    h.endsWith(".local") ||
    h.endsWith(".internal") ||
    h === "metadata" ||
    h === "metadata.google.internal"
  );
}

/** A literal IP (v4 or bracketed/bare v6) rather than a name. */
export function isIpLiteral(host: string): boolean {
  return isIP(bareAddress(host)) !== 0;
}
