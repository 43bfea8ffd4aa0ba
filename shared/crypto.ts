import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { secrets } from '#shared/secrets.ts';

/**
 * Data keys for encryption at rest, kept in the secret `keys` (Secrets Manager in AWS):
 * `{ "current": "<kid>", "keys": { "<kid>": "<base64 of 32 bytes>", … } }`. Rotation = add a key
 * and make it current; old ciphertexts stay readable while their key is listed.
 */
export const keyringSchema = z.object({
  current: z.string().min(1),
  keys: z.record(z.string(), z.string()),
});
export type Keyring = z.infer<typeof keyringSchema>;

export const KEYRING_SECRET = 'keys';

/** A fresh keyring with one random key (local runtime and tests). */
export function newKeyring(kid = `k${Date.now().toString(36)}`): Keyring {
  return { current: kid, keys: { [kid]: randomBytes(32).toString('base64') } };
}

async function keyring(): Promise<Keyring> {
  const raw = await secrets().get(KEYRING_SECRET);
  if (!raw) throw new Error(`The data-key secret '${KEYRING_SECRET}' is missing`);
  const ring = keyringSchema.parse(JSON.parse(raw));
  if (!ring.keys[ring.current]) throw new Error('The current data key is not in the keyring');
  return ring;
}

function keyBytes(ring: Keyring, kid: string): Buffer {
  const b64 = ring.keys[kid];
  if (!b64) throw new Error(`Data key '${kid}' is not in the keyring`);
  const key = Buffer.from(b64, 'base64');
  if (key.length !== 32) throw new Error(`Data key '${kid}' is not 32 bytes`);
  return key;
}

/**
 * Encrypts with AES-256-GCM (random 96-bit IV, 128-bit tag). `aad` binds the ciphertext to its
 * owner (e.g. the connection id) so it cannot be moved to another item. Output:
 * `v1.<kid>.<iv>.<ciphertext>.<tag>` (base64url parts).
 */
export async function encrypt(plaintext: string, aad: string): Promise<string> {
  const ring = await keyring();
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyBytes(ring, ring.current), iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [
    'v1',
    ring.current,
    iv.toString('base64url'),
    ct.toString('base64url'),
    tag.toString('base64url'),
  ].join('.');
}

/** Decrypts what {@link encrypt} produced; throws if the data, key or `aad` do not match. */
export async function decrypt(sealed: string, aad: string): Promise<string> {
  const [version, kid, iv, ct, tag] = sealed.split('.');
  if (version !== 'v1' || !kid || !iv || ct === undefined || !tag) throw new Error('Not a sealed value');
  const ring = await keyring();
  const decipher = createDecipheriv('aes-256-gcm', keyBytes(ring, kid), Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
}

/** The key id a sealed value was encrypted with (for re-encryption after a rotation). */
export function sealedKeyId(sealed: string): string | undefined {
  return sealed.split('.')[1];
}

/** True when a sealed value was made with an older key than the current one. */
export async function needsReencrypt(sealed: string): Promise<boolean> {
  return sealedKeyId(sealed) !== (await keyring()).current;
}

/** Hex SHA-256 of a string. */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** Constant-time comparison of two strings. */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
