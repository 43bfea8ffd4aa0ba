import { afterEach, describe, expect, it } from 'vitest';
import { checkProviderUrl } from '#shared/oauth/urls.ts';
import { setEnv } from '#test/helpers/env.ts';

afterEach(() => setEnv({ ALLOW_LOOPBACK_TARGETS: undefined }));

describe('checkProviderUrl (the catalog check of provider URLs, before any call)', () => {
  it.each([
    ['https://localhost./token', /loopback name/],
    ['https://sso.localhost/token', /loopback name/],
    ['https://[::7f00:1]/token', /not global unicast/],
    ['https://[::ffff:7f00:1]/token', /ipv4Mapped/],
    ['https://metadata.google.internal/computeMetadata/v1/token', /local-only name/],
    ['https://metadata/token', /not a fully qualified name/],
    ['https://0x7f000001/token', /loopback/],
    ['https://100.100.100.200/token', /carrierGradeNat/],
  ])('refuses %s without the local setting', (url, why) => {
    setEnv({ ALLOW_LOOPBACK_TARGETS: undefined });
    expect(checkProviderUrl(url)).toMatch(/^must not point at a loopback, private or internal host/);
    expect(checkProviderUrl(url)).toMatch(why);
  });

  it('allows loopback with ALLOW_LOOPBACK_TARGETS=true, but still no private, link-local or local-only host', () => {
    setEnv({ ALLOW_LOOPBACK_TARGETS: 'true' });
    expect(checkProviderUrl('http://127.0.0.1:9999/token')).toBeUndefined();
    expect(checkProviderUrl('http://localhost:9999/token')).toBeUndefined();
    expect(checkProviderUrl('http://[::1]:9999/token')).toBeUndefined();
    expect(checkProviderUrl('https://10.0.0.7/token')).toMatch(/private/);
    expect(checkProviderUrl('https://169.254.169.254/latest')).toMatch(/linkLocal/);
    expect(checkProviderUrl('https://metadata.google.internal/token')).toMatch(/local-only/);
  });

  it('accepts public https provider URLs', () => {
    expect(checkProviderUrl('https://github.com/login/oauth/access_token')).toBeUndefined();
    expect(checkProviderUrl('https://oauth2.googleapis.com./token')).toBeUndefined();
  });
});
