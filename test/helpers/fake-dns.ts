import dns, { type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import { type ResolvedAddress, setResolver } from '#shared/net/url-guard.ts';

export interface FakeDns {
  /** Makes `host` resolve to `addresses` (no entry: ENOTFOUND). */
  answer: (host: string, addresses: string[]) => void;
  /** Forgets every answer and the record of questions. */
  clear: () => void;
  /**
   * Once the URL guard has had its next answer for `host`, DNS answers `later` instead: a
   * rebinding attacker's zero-TTL record. A client that resolves again to connect goes there.
   */
  rebindAfterCheck: (host: string, later: string[]) => void;
  /** Host names asked, by the URL guard's resolver and through `node:dns` lookup (what `fetch` and `net.connect` use). */
  asked: { guard: string[]; system: string[] };
}

const family = (address: string): 4 | 6 => (address.includes(':') ? 6 : 4);

/**
 * DNS for a test file, answered from a table and never by a real server: it replaces the URL
 * guard's resolver and `node:dns` `lookup`, so even a client that bypasses the guard (plain
 * `fetch`) resolves these names on this machine, and any other name fails with ENOTFOUND instead
 * of leaving it. Restored after the file.
 */
export function useFakeDns(): FakeDns {
  const table = new Map<string, string[]>();
  const rebinds = new Map<string, string[]>();
  const asked = { guard: [] as string[], system: [] as string[] };
  const answerOf = (host: string) => table.get(host.toLowerCase());
  const realLookup = dns.lookup;

  const fake: FakeDns = {
    answer: (host, addresses) => {
      table.set(host.toLowerCase(), addresses);
    },
    clear: () => {
      table.clear();
      rebinds.clear();
      asked.guard.length = 0;
      asked.system.length = 0;
    },
    rebindAfterCheck: (host, later) => {
      rebinds.set(host.toLowerCase(), later);
    },
    asked,
  };

  beforeAll(() => {
    setResolver(async (host) => {
      asked.guard.push(host);
      const list = answerOf(host);
      if (!list) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      const later = rebinds.get(host.toLowerCase());
      if (later) {
        rebinds.delete(host.toLowerCase());
        table.set(host.toLowerCase(), later);
      }
      return list.map((address): ResolvedAddress => ({ address, family: family(address) }));
    });
    const lookup = (host: string, opts: unknown, cb?: unknown) => {
      const callback = (typeof opts === 'function' ? opts : cb) as (
        err: NodeJS.ErrnoException | null,
        address?: string | LookupAddress[],
        family?: number,
      ) => void;
      const all = typeof opts === 'object' && opts !== null && (opts as { all?: boolean }).all;
      // An address is its own answer (servers listening on 127.0.0.1 look it up too).
      if (isIP(host)) return realLookup(host, opts as dns.LookupOptions, callback as never);
      asked.system.push(host);
      const list = answerOf(host);
      process.nextTick(() => {
        if (!list?.length) {
          return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }));
        }
        if (all)
          return callback(
            null,
            list.map((address) => ({ address, family: family(address) })),
          );
        const first = list[0] as string;
        callback(null, first, family(first));
      });
    };
    dns.lookup = lookup as typeof dns.lookup;
  });
  afterAll(() => {
    setResolver(undefined);
    dns.lookup = realLookup;
  });
  return fake;
}
