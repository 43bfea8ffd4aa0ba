import ipaddr from 'ipaddr.js';
import { config } from '#shared/config.ts';

/**
 * Why a provider URL may not be called, or undefined when it may: https only, no credentials or
 * fragment in the URL, and no loopback, private or link-local address literal. Plain http and
 * loopback/private hosts are allowed only with ALLOW_LOOPBACK_TARGETS=true (local development and
 * tests, where fake providers listen on 127.0.0.1).
 */
export function checkProviderUrl(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'not a URL';
  }
  const loopbackAllowed = config().ALLOW_LOOPBACK_TARGETS;
  if (url.username || url.password) return 'must not carry credentials';
  if (url.hash) return 'must not have a fragment';
  if (url.protocol !== 'https:' && !(loopbackAllowed && url.protocol === 'http:')) {
    return 'must use https (http only with ALLOW_LOOPBACK_TARGETS=true)';
  }
  if (!loopbackAllowed && isInternalHost(url.hostname)) {
    return 'must not point at a loopback, private or link-local address';
  }
  return undefined;
}

function isInternalHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (!ipaddr.isValid(host)) return false;
  let addr = ipaddr.parse(host);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    addr = (addr as ipaddr.IPv6).toIPv4Address();
  }
  return addr.range() !== 'unicast';
}
