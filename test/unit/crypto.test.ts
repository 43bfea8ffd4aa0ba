import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { decrypt, encrypt, needsReencrypt, newKeyring, safeEqual, sealedKeyId } from '#shared/crypto.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';

let store: Map<string, string>;
beforeEach(() => {
  store = useMemorySecrets();
});

describe('encrypt / decrypt (AES-256-GCM)', () => {
  it('round-trips any text and never contains the plaintext', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 4 }), async (text) => {
        const sealed = await encrypt(text, 'conn_1');
        expect(sealed.startsWith('v1.k1.')).toBe(true);
        expect(sealed.includes(text)).toBe(false);
        expect(await decrypt(sealed, 'conn_1')).toBe(text);
      }),
      { numRuns: 50 },
    );
  });

  it('uses a fresh IV each time', async () => {
    expect(await encrypt('same', 'a')).not.toBe(await encrypt('same', 'a'));
  });

  it('refuses a ciphertext moved to another owner (associated data)', async () => {
    const sealed = await encrypt('gho_secret', 'conn_1');
    await expect(decrypt(sealed, 'conn_2')).rejects.toThrow();
  });

  it('refuses a tampered ciphertext', async () => {
    const sealed = await encrypt('gho_secret', 'conn_1');
    const parts = sealed.split('.');
    const ct = Buffer.from(parts[3] as string, 'base64url');
    ct[0] = (ct[0] ?? 0) ^ 1;
    parts[3] = ct.toString('base64url');
    await expect(decrypt(parts.join('.'), 'conn_1')).rejects.toThrow();
  });

  it('keeps old ciphertexts readable after a key rotation and flags them for re-encryption', async () => {
    const old = await encrypt('value', 'x');
    const ring = JSON.parse(store.get('pronaflow-integrations/keys') as string);
    const next = newKeyring('k2');
    store.set(
      'pronaflow-integrations/keys',
      JSON.stringify({ current: 'k2', keys: { ...ring.keys, ...next.keys } }),
    );
    expect(await decrypt(old, 'x')).toBe('value');
    expect(await needsReencrypt(old)).toBe(true);
    const fresh = await encrypt('value', 'x');
    expect(sealedKeyId(fresh)).toBe('k2');
    expect(await needsReencrypt(fresh)).toBe(false);
  });

  it('fails clearly when the keyring is missing', async () => {
    store.clear();
    await expect(encrypt('v', 'x')).rejects.toThrow(/data-key secret/);
  });
});

describe('safeEqual', () => {
  it('compares strings', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
  });
});
