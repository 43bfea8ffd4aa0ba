import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { decrypt, encrypt, newKeyring, safeEqual, sealedKeyId } from '#shared/crypto.ts';
import { type SecretReadOptions, setSecretSource } from '#shared/secrets.ts';
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

  it('keeps old ciphertexts readable after a key rotation and seals new ones with the new key', async () => {
    const old = await encrypt('value', 'x');
    const ring = JSON.parse(store.get('pronaflow-integrations/keys') as string);
    const next = newKeyring('k2');
    store.set(
      'pronaflow-integrations/keys',
      JSON.stringify({ current: 'k2', keys: { ...ring.keys, ...next.keys } }),
    );
    expect(await decrypt(old, 'x')).toBe('value');
    expect(sealedKeyId(old)).toBe('k1');
    const fresh = await encrypt('value', 'x');
    expect(sealedKeyId(fresh)).toBe('k2');
  });

  it('fails clearly when the keyring is missing', async () => {
    store.clear();
    await expect(encrypt('v', 'x')).rejects.toThrow(/data-key secret/);
  });
});

/**
 * A secret source with a cache, like Secrets Manager through Powertools: `get` answers the cached
 * value until asked for a fresh one.
 */
function cachingSource(initial: string) {
  const state = { stored: initial, cached: initial, freshReads: 0 };
  setSecretSource({
    get: async (_name: string, opts?: SecretReadOptions) => {
      if (opts?.fresh) {
        state.freshReads += 1;
        state.cached = state.stored;
      }
      return state.cached;
    },
  });
  return state;
}

describe('decrypt right after a key rotation', () => {
  const k1 = newKeyring('r1');
  const rotated = { current: 'r2', keys: { ...k1.keys, ...newKeyring('r2').keys } };
  /** A value sealed by a function that already reads the rotated keyring. */
  async function sealedWithNewKey(text: string) {
    setSecretSource({ get: async () => JSON.stringify(rotated) });
    return encrypt(text, 'conn_1');
  }

  it('re-reads the keyring once, bypassing the cache, when a value names a key the cached copy lacks', async () => {
    const sealed = await sealedWithNewKey('gho_new');
    const another = await sealedWithNewKey('gho_other');
    const source = cachingSource(JSON.stringify(k1));
    source.stored = JSON.stringify(rotated); // rotated in Secrets Manager; the cache still holds r1 only
    expect(await decrypt(sealed, 'conn_1')).toBe('gho_new');
    expect(source.freshReads).toBe(1);
    // The fresh read refreshed the cache: the next value under r2 needs no further read.
    expect(await decrypt(another, 'conn_1')).toBe('gho_other');
    expect(source.freshReads).toBe(1);
  });

  it('fails after one fresh read when the key is really gone, and does not re-read it at once', async () => {
    const sealed = await sealedWithNewKey('gho_new');
    const source = cachingSource(JSON.stringify({ current: 'r9', keys: newKeyring('r9').keys }));
    await expect(decrypt(sealed, 'conn_1')).rejects.toThrow(/Data key 'r2' is not in the keyring/);
    await expect(decrypt(sealed, 'conn_1')).rejects.toThrow(/Data key 'r2'/);
    expect(source.freshReads).toBe(1);
  });

  it('reads the cached keyring only, when the key is known', async () => {
    const source = cachingSource(JSON.stringify(k1));
    const sealed = await encrypt('v', 'x');
    expect(await decrypt(sealed, 'x')).toBe('v');
    expect(source.freshReads).toBe(0);
  });
});

describe('safeEqual', () => {
  it('compares strings', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
  });
});
