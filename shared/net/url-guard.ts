/**
 * The outbound-call guard of every feature (webhook deliveries, OAuth provider calls, the sync
 * adapters to come): a URL may be called only when its host is a public name or address and every
 * address the name resolves to is public unicast. The caller then connects to the checked address
 * itself (see pinned-http.ts), so DNS cannot rebind between the check and the connection.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { config } from '#shared/config.ts';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to every address it has (injectable so tests can play DNS). */
export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (host) => {
  const all = await lookup(host, { all: true, verbatim: true });
  return all.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

let resolver: Resolver = systemResolver;

/** Replaces the resolver (tests); `undefined` restores the system one. */
export function setResolver(next: Resolver | undefined): void {
  resolver = next ?? systemResolver;
}

/**
 * Raised when a URL or one of its addresses may not be called. `refused`: the URL's shape
 * or an address it resolves to is not allowed (final: retrying changes nothing until someone
 * changes the URL or its DNS); `unresolved`: the host could not be resolved in time (transient).
 */
export class UnsafeTargetError extends Error {
  override name = 'UnsafeTargetError';
  constructor(
    message: string,
    readonly kind: 'refused' | 'unresolved' = 'refused',
  ) {
    super(message);
  }
}

export interface TargetPolicy {
  /** Local development only: allows `http:`, loopback addresses and `localhost` names. */
  allowLoopback: boolean;
}

/** The policy of this deployment: loopback targets only with ALLOW_LOOPBACK_TARGETS=true. */
export function configuredPolicy(): TargetPolicy {
  return { allowLoopback: config().ALLOW_LOOPBACK_TARGETS };
}

/**
 * Names that never denote a public host: resolved locally (RFC 6761 `localhost`), by multicast DNS
 * (RFC 6762 `local`), or reserved for private networks (ICANN's `internal`, RFC 8375 `home.arpa`,
 * and the private-use names RFC 6762 appendix G lists), e.g. `metadata.google.internal`.
 */
const LOCAL_ONLY_SUFFIXES = [
  'local',
  'localdomain',
  'internal',
  'intranet',
  'private',
  'corp',
  'home',
  'lan',
  'home.arpa',
];

/**
 * Why the host of `url` may not be called, judged without DNS, or undefined. IP literals must pass
 * {@link addressProblem}; names must be fully qualified (a single label such as `metadata` is
 * completed by the resolver's search list, i.e. an internal name) and not local-only. A trailing
 * dot is ignored (`localhost.` is `localhost`); `localhost` and `*.localhost` are loopback
 * (allowed with `allowLoopback`).
 */
export function hostProblem(url: URL, policy: TargetPolicy): string | undefined {
  const host = hostOf(url);
  if (isIP(host)) return addressProblem(host, policy);
  const name = host.toLowerCase().replace(/\.$/, '');
  if (!name) return `${host} is not a host name`;
  if (name === 'localhost' || name.endsWith('.localhost')) {
    return policy.allowLoopback ? undefined : `${host} is a loopback name`;
  }
  if (!name.includes('.')) return `${host} is not a fully qualified name`;
  if (LOCAL_ONLY_SUFFIXES.some((suffix) => name === suffix || name.endsWith(`.${suffix}`))) {
    return `${host} is a local-only name`;
  }
  return undefined;
}

/**
 * Checks a URL without DNS: https (http only with `allowLoopback`), no credentials, and a host that
 * passes {@link hostProblem}. Returns the parsed URL; throws {@link UnsafeTargetError} with the
 * reason otherwise.
 */
export function checkUrlShape(raw: string | URL, policy: TargetPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UnsafeTargetError('The URL is not valid');
  }
  const schemes = policy.allowLoopback ? ['https:', 'http:'] : ['https:'];
  if (!schemes.includes(url.protocol)) throw new UnsafeTargetError('The URL must use https');
  if (url.username || url.password) throw new UnsafeTargetError('The URL must not contain credentials');
  if (!url.hostname) throw new UnsafeTargetError('The URL has no host');
  const problem = hostProblem(url, policy);
  if (problem) throw new UnsafeTargetError(`The host ${problem}`);
  return url;
}

/** IPv6 global unicast (RFC 4291 §2.4): the only IPv6 block outbound calls may target. */
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

/**
 * Why `address` may not be called, or undefined when it is a public unicast address. Refused:
 * every special range ipaddr.js knows (private, loopback, link-local incl. 169.254.169.254,
 * unique-local incl. fd00:ec2::254, multicast, reserved, carrier-grade NAT, IPv4-mapped, 6to4,
 * Teredo, NAT64, …); only `unicast` passes, plus `loopback` when `allowLoopback`. IPv6 must
 * moreover be global unicast (`2000::/3`), which also refuses IPv4-compatible addresses
 * (`::/96`, e.g. `::7f00:1`) that ipaddr.js classes as plain unicast.
 */
export function addressProblem(address: string, policy: TargetPolicy): string | undefined {
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.parse(address);
  } catch {
    return `${address} is not an IP address`;
  }
  const range = ip.range();
  if (range === 'loopback' && policy.allowLoopback) return undefined;
  if (range !== 'unicast') return `${address} is in a refused range (${range})`;
  if (ip.kind() === 'ipv6') {
    const [block, bits] = GLOBAL_UNICAST_V6;
    if (!ip.match(block, bits)) return `${address} is in a refused range (not global unicast 2000::/3)`;
  }
  return undefined;
}

/** A URL that passed every check, and the address to connect to. */
export interface CheckedTarget {
  url: URL;
  address: ResolvedAddress;
}

/** The bare host of a URL (IPv6 literals without brackets). */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/** Resolves `host`, giving up after `timeoutMs` (the lookup itself cannot be cancelled; its answer is ignored). */
async function resolveWithin(host: string, timeoutMs: number | undefined): Promise<ResolvedAddress[]> {
  if (timeoutMs === undefined) return resolver(host);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new UnsafeTargetError(`Resolving ${host} timed out after ${timeoutMs} ms`, 'unresolved')),
      Math.max(0, timeoutMs),
    );
  });
  try {
    return await Promise.race([resolver(host), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Validates a URL fully: shape and host, then every address its host resolves to. Returns the
 * URL and the address to connect to (the first checked one), so the caller connects to exactly
 * what was checked and a second DNS answer cannot slip in (no rebinding window). With
 * `timeoutMs`, resolution is bounded (the delivery worker's attempt deadline covers it).
 */
export async function resolveTarget(
  raw: string | URL,
  policy: TargetPolicy,
  opts: { timeoutMs?: number } = {},
): Promise<CheckedTarget> {
  const url = checkUrlShape(raw, policy);
  const host = hostOf(url);
  let addresses: ResolvedAddress[];
  if (isIP(host)) {
    addresses = [{ address: host, family: isIP(host) === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await resolveWithin(host, opts.timeoutMs);
    } catch (err) {
      if (err instanceof UnsafeTargetError) throw err;
      throw new UnsafeTargetError(`The host ${host} could not be resolved`, 'unresolved');
    }
  }
  if (!addresses.length) throw new UnsafeTargetError(`The host ${host} has no address`, 'unresolved');
  for (const a of addresses) {
    const problem = addressProblem(a.address, policy);
    if (problem) throw new UnsafeTargetError(`The host ${host} resolves to ${problem}`);
  }
  return { url, address: addresses[0] as ResolvedAddress };
}
