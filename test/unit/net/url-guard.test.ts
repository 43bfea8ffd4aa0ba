import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  addressProblem,
  checkUrlShape,
  hostProblem,
  type ResolvedAddress,
  resolveTarget,
  setResolver,
  UnsafeTargetError,
} from '#shared/net/url-guard.ts';

const strict = { allowLoopback: false };
const dev = { allowLoopback: true };

const dns = (answers: Record<string, string[]>) =>
  setResolver(async (host) => {
    const list = answers[host];
    if (!list) throw new Error('ENOTFOUND');
    return list.map((address): ResolvedAddress => ({ address, family: address.includes(':') ? 6 : 4 }));
  });

afterEach(() => setResolver(undefined));

describe('URL shape', () => {
  it('accepts https URLs', () => {
    expect(checkUrlShape('https://hooks.example.com/x', strict).hostname).toBe('hooks.example.com');
  });

  it.each([
    ['http://hooks.example.com/x', /https/],
    ['ftp://hooks.example.com/x', /https/],
    ['https://user:pass@hooks.example.com/x', /credentials/],
    ['https://user@hooks.example.com/x', /credentials/],
    ['not a url', /not valid/],
  ])('refuses %s', (url, message) => {
    expect(() => checkUrlShape(url, strict)).toThrow(message);
  });

  it('allows http only with ALLOW_LOOPBACK_TARGETS', () => {
    expect(checkUrlShape('http://127.0.0.1:8080/x', dev).protocol).toBe('http:');
  });
});

describe('target addresses', () => {
  it.each([
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['127.0.0.1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['169.254.169.254', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['fd00:ec2::254', 'uniqueLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'ipv4Mapped'],
    ['::ffff:10.0.0.1', 'ipv4Mapped'],
    ['64:ff9b::a00:1', 'rfc6052'],
    ['2002:a00:1::', '6to4'],
    ['2001:db8::1', 'reserved'],
    ['::7f00:1', 'not global unicast 2000::/3'],
    ['::a00:1', 'not global unicast 2000::/3'],
    ['::1.2.3.4', 'ipv4Mapped'],
    ['4000::1', 'not global unicast 2000::/3'],
    ['100::1', 'discard'],
    ['2001::1', 'teredo'],
  ])('refuses %s (%s)', (address, range) => {
    expect(addressProblem(address, strict)).toContain(`(${range})`);
  });

  it('accepts public unicast addresses', () => {
    expect(addressProblem('93.184.216.34', strict)).toBeUndefined();
    expect(addressProblem('2606:2800:220:1:248:1893:25c8:1946', strict)).toBeUndefined();
  });

  it('refuses IPv4-compatible IPv6 (::/96) even with ALLOW_LOOPBACK_TARGETS', () => {
    expect(addressProblem('::7f00:1', dev)).toContain('not global unicast');
    expect(addressProblem('::a9fe:a9fe', dev)).toContain('not global unicast');
  });

  it('allows loopback only with ALLOW_LOOPBACK_TARGETS, and still refuses private and mapped ranges', () => {
    expect(addressProblem('127.0.0.1', dev)).toBeUndefined();
    expect(addressProblem('::1', dev)).toBeUndefined();
    expect(addressProblem('10.0.0.1', dev)).toContain('private');
    expect(addressProblem('::ffff:127.0.0.1', dev)).toContain('ipv4Mapped');
    expect(addressProblem('169.254.169.254', dev)).toContain('linkLocal');
  });
});

describe('host names and literals judged without DNS', () => {
  it.each([
    ['https://localhost/x', 'loopback name'],
    ['https://localhost./x', 'loopback name'],
    ['https://LocalHost/x', 'loopback name'],
    ['https://api.localhost/x', 'loopback name'],
    ['https://metadata.google.internal/computeMetadata/v1', 'local-only name'],
    ['https://metadata.google.internal./x', 'local-only name'],
    ['https://printer.local/x', 'local-only name'],
    ['https://router.home.arpa/x', 'local-only name'],
    ['https://db.corp/x', 'local-only name'],
    ['https://metadata/x', 'not a fully qualified name'],
    ['https://intranet./x', 'not a fully qualified name'],
    ['https://[::7f00:1]/x', 'not global unicast 2000::/3'],
    ['https://[::1]/x', '(loopback)'],
    ['https://0x7f000001/x', '(loopback)'],
    ['https://2130706433/x', '(loopback)'],
    ['https://127.1/x', '(loopback)'],
    ['https://[::ffff:169.254.169.254]/x', '(ipv4Mapped)'],
  ])('refuses %s (%s)', (url, why) => {
    expect(hostProblem(new URL(url), strict)).toContain(why);
    expect(() => checkUrlShape(url, strict)).toThrow(UnsafeTargetError);
  });

  it('accepts fully qualified public names, with or without the trailing dot', () => {
    expect(hostProblem(new URL('https://hooks.example.com/x'), strict)).toBeUndefined();
    expect(hostProblem(new URL('https://hooks.example.com./x'), strict)).toBeUndefined();
  });

  it('allows localhost names only with ALLOW_LOOPBACK_TARGETS, and never local-only or single-label ones', () => {
    expect(hostProblem(new URL('http://localhost:3000/x'), dev)).toBeUndefined();
    expect(hostProblem(new URL('http://localhost.:3000/x'), dev)).toBeUndefined();
    expect(hostProblem(new URL('http://metadata.google.internal/x'), dev)).toContain('local-only');
    expect(hostProblem(new URL('http://metadata/x'), dev)).toContain('not a fully qualified');
  });

  it('refuses them before asking DNS, as final refusals', async () => {
    const resolver = vi.fn(async () => [{ address: '93.184.216.34', family: 4 as const }]);
    setResolver(resolver);
    for (const url of [
      'https://localhost./x',
      'https://metadata.google.internal/x',
      'https://[::7f00:1]/x',
    ]) {
      await expect(resolveTarget(url, strict), url).rejects.toMatchObject({ kind: 'refused' });
    }
    expect(resolver).not.toHaveBeenCalled();
  });
});

describe('resolveTarget', () => {
  it('returns the checked address to connect to', async () => {
    dns({ 'hooks.example.com': ['93.184.216.34'] });
    const t = await resolveTarget('https://hooks.example.com/in', strict);
    expect(t.address).toEqual({ address: '93.184.216.34', family: 4 });
  });

  it.each([['10.0.0.7'], ['169.254.169.254'], ['::ffff:127.0.0.1'], ['fd00:ec2::254'], ['127.0.0.1']])(
    'refuses a host whose DNS answer is %s',
    async (answer) => {
      dns({ 'evil.example.com': [answer] });
      await expect(resolveTarget('https://evil.example.com/', strict)).rejects.toBeInstanceOf(
        UnsafeTargetError,
      );
    },
  );

  it('refuses a host when any one of its addresses is refused', async () => {
    dns({ 'mixed.example.com': ['93.184.216.34', '10.0.0.1'] });
    await expect(resolveTarget('https://mixed.example.com/', strict)).rejects.toThrow(/10\.0\.0\.1/);
  });

  it('refuses IP-literal URLs in refused ranges without asking DNS', async () => {
    dns({});
    await expect(resolveTarget('https://169.254.169.254/latest/meta-data', strict)).rejects.toThrow(
      /linkLocal/,
    );
    await expect(resolveTarget('https://[fd00:ec2::254]/', strict)).rejects.toThrow(/uniqueLocal/);
    await expect(resolveTarget('https://[::ffff:7f00:1]/', strict)).rejects.toThrow(/ipv4Mapped/);
  });

  it('refuses hosts that do not resolve, as a transient (unresolved) failure', async () => {
    dns({});
    const err = await resolveTarget('https://nowhere.example.com/', strict).catch((e) => e);
    expect(err).toBeInstanceOf(UnsafeTargetError);
    expect(err).toMatchObject({
      kind: 'unresolved',
      message: expect.stringMatching(/could not be resolved/),
    });
  });

  it('marks shape and range refusals as final (refused)', async () => {
    dns({ 'evil.example.com': ['10.0.0.7'] });
    await expect(resolveTarget('https://evil.example.com/', strict)).rejects.toMatchObject({
      kind: 'refused',
    });
    await expect(resolveTarget('http://evil.example.com/', strict)).rejects.toMatchObject({
      kind: 'refused',
    });
    await expect(resolveTarget('https://[::7f00:1]/', strict)).rejects.toMatchObject({ kind: 'refused' });
  });

  it('gives up resolving after timeoutMs', async () => {
    setResolver(() => new Promise<ResolvedAddress[]>(() => {}));
    await expect(resolveTarget('https://slow.example.com/', strict, { timeoutMs: 20 })).rejects.toMatchObject(
      {
        kind: 'unresolved',
        message: 'Resolving slow.example.com timed out after 20 ms',
      },
    );
  });
});
