import { lookup as dnsLookup } from "node:dns/promises";
import { isIP, type LookupFunction } from "node:net";
import { Agent } from "undici";
import { bareAddress, isIpLiteral, isLocalHostname, isPrivateAddress } from "./ip.js";

export type LookupFn = (hostname: string) => Promise<Array<{ address: string; family: 4 | 6 }>>;
export type GuardResult = { ok: true; address: string; family: 4 | 6 } | { ok: false; reason: string };

/** The system resolver in the order it returned (verbatim), so the address we pin is the one it prefers. */
export const systemLookup: LookupFn = async (hostname) => {
  const found = await dnsLookup(hostname, { all: true, verbatim: true });
  return found.flatMap((a) =>
    a.family === 4 || a.family === 6 ? [{ address: a.address, family: a.family }] : [],
  );
};

/** Lower-case, no brackets, no trailing dot: the form two spellings of one host name compare equal in. */
function canonicalHost(hostname: string): string {
  return bareAddress(hostname.trim()).toLowerCase().replace(/\.$/, "");
}

function errorCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string")
    return err.code;
  return undefined;
}

const PRIVATE_HINT = "Convai's servers cannot reach private, loopback or link-local addresses";

/**
 * Resolves `hostname` and refuses it when any address it resolves to is private, so a name with one
 * public and one private record cannot be used to reach an internal service.
 */
export async function resolvePublicAddress(
  hostname: string,
  opts: { allowPrivate: boolean; lookup?: LookupFn },
): Promise<GuardResult> {
  const host = canonicalHost(hostname);
  if (host === "") return { ok: false, reason: "the URL has no host name" };

  if (isIpLiteral(host)) {
    const family = isIP(host) === 6 ? 6 : 4;
    if (!opts.allowPrivate && isPrivateAddress(host)) {
      return { ok: false, reason: `${host} is not a public address; ${PRIVATE_HINT}` };
    }
    return { ok: true, address: host, family };
  }

  if (!opts.allowPrivate && isLocalHostname(host)) {
    return { ok: false, reason: `${host} is a local host name; ${PRIVATE_HINT}` };
  }

  let addresses: Array<{ address: string; family: 4 | 6 }>;
  try {
    addresses = await (opts.lookup ?? systemLookup)(host);
  } catch (err) {
    const code = errorCode(err);
    const why = code === "ENOTFOUND" ? "no such host" : code === "EAI_AGAIN" ? "DNS lookup timed out" : code;
    return { ok: false, reason: `could not resolve ${host}${why ? ` (${why})` : ""}` };
  }
  if (addresses.length === 0) return { ok: false, reason: `could not resolve ${host} (no addresses)` };

  for (const { address } of addresses) {
    // A resolver (injected or misbehaving) that hands back something that is not an address is not trusted.
    if (isIP(bareAddress(address)) === 0) {
      return { ok: false, reason: `could not resolve ${host} (invalid address in answer)` };
    }
    if (!opts.allowPrivate && isPrivateAddress(address)) {
      return { ok: false, reason: `${host} resolves to ${bareAddress(address)}; ${PRIVATE_HINT}` };
    }
  }
  const first = addresses[0];
  if (first === undefined) return { ok: false, reason: `could not resolve ${host} (no addresses)` };
  const address = bareAddress(first.address);
  return { ok: true, address, family: isIP(address) === 6 ? 6 : 4 };
}

export interface PinnedAgentOptions {
  /** Upper bound for connecting, headers and body; the caller's AbortSignal is the real deadline. */
  timeoutMs: number;
}

/**
 * An undici Agent that connects `hostname` only to the address that was checked, so DNS cannot change its
 * answer between the check and the connection (rebinding). URL, Host header and TLS SNI/certificate
 * checks still use the host name, because undici hands the name to net/tls and only the lookup is replaced.
 */
export function createPinnedAgent(
  hostname: string,
  pinned: { address: string; family: 4 | 6 },
  options: PinnedAgentOptions,
): Agent {
  const expected = canonicalHost(hostname);
  const lookup: LookupFunction = (host, lookupOptions, callback) => {
    if (canonicalHost(host) !== expected) {
      // Only the probed host may be connected through this agent; anything else would skip the guard.
      const err: NodeJS.ErrnoException = new Error(`refusing to connect to unchecked host ${host}`);
      err.code = "ENOTFOUND";
      callback(err, "", 0);
      return;
    }
    if (lookupOptions.all) callback(null, [{ address: pinned.address, family: pinned.family }]);
    else callback(null, pinned.address, pinned.family);
  };
  return new Agent({
    connect: { lookup, timeout: options.timeoutMs },
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    keepAliveTimeout: 1_000,
    connections: 2,
  });
}
