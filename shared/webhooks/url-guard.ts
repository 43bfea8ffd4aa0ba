import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

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

/** Raised when a webhook URL or one of its addresses may not be called. */
export class UnsafeTargetError extends Error {
  override name = 'UnsafeTargetError';
}

export interface TargetPolicy {
  /** Local development only: allows `http:` and loopback addresses. */
  allowLoopback: boolean;
}

/**
 * Checks the shape of a webhook URL: https (http only with `allowLoopback`), no credentials,
 * a host. Returns the parsed URL; throws {@link UnsafeTargetError} with the reason otherwise.
 */
export function checkUrlShape(raw: string, policy: TargetPolicy): URL {
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
  return url;
}

/**
 * Why `address` may not be called, or undefined when it is a public unicast address. Refused:
 * every special range ipaddr.js knows (private, loopback, link-local incl. 169.254.169.254,
 * unique-local incl. fd00:ec2::254, multicast, reserved, carrier-grade NAT, IPv4-mapped, 6to4,
 * Teredo, NAT64, …); only `unicast` passes, plus `loopback` when `allowLoopback`.
 */
export function addressProblem(address: string, policy: TargetPolicy): string | undefined {
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.parse(address);
  } catch {
    return `${address} is not an IP address`;
  }
  const range = ip.range();
  if (range === 'unicast') return undefined;
  if (range === 'loopback' && policy.allowLoopback) return undefined;
  return `${address} is in a refused range (${range})`;
}

/** The bare host of a URL (IPv6 literals without brackets). */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/**
 * Validates a webhook URL fully: shape, then every address its host resolves to. Returns the
 * URL and the address to connect to (the first checked one), so the caller connects to exactly
 * what was checked and a second DNS answer cannot slip in (no rebinding window).
 */
export async function resolveTarget(
  raw: string,
  policy: TargetPolicy,
): Promise<{ url: URL; address: ResolvedAddress }> {
  const url = checkUrlShape(raw, policy);
  const host = hostOf(url);
  let addresses: ResolvedAddress[];
  if (isIP(host)) {
    addresses = [{ address: host, family: isIP(host) === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await resolver(host);
    } catch {
      throw new UnsafeTargetError(`The host ${host} could not be resolved`);
    }
  }
  if (!addresses.length) throw new UnsafeTargetError(`The host ${host} has no address`);
  for (const a of addresses) {
    const problem = addressProblem(a.address, policy);
    if (problem) throw new UnsafeTargetError(`The host ${host} resolves to ${problem}`);
  }
  return { url, address: addresses[0] as ResolvedAddress };
}
