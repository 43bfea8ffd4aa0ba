import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import * as v from 'valibot';
import { secrets } from '#shared/secrets.ts';
import { record } from '#shared/validation.ts';

/**
 * Data keys for encryption at rest, kept in the secret `keys` (Secrets Manager in AWS):
 * `{ "current": "<kid>", "keys": { "<kid>": "<base64 of 32 bytes>", … } }`. Rotation = add a key
 * and make it current; old ciphertexts stay readable while their key is listed.
 */
export const keyringSchema = v.object({
  current: v.pipe(v.string(), v.minLength(1)),
  keys: record(v.string(), v.string()),
  /**
   * The key of keyed hashes that pseudonymize identifiers in records kept after their subject is
   * deleted (the audit log): base64 of 32 bytes. Never rotated — a new key would give every
   * subject a new pseudonym and cut their trail from its past.
   */
  pseudonym_key: v.optional(v.string()),
});
export type Keyring = v.InferOutput<typeof keyringSchema>;

export const KEYRING_SECRET = 'keys';

/** A fresh keyring with one random key (local runtime and tests). */
export function newKeyring(kid = `k${Date.now().toString(36)}`): Keyring {
  return {
    current: kid,
    keys: { [kid]: randomBytes(32).toString('base64') },
    pseudonym_key: newPseudonymKey(),
  };
}

/** A random pseudonym key (base64 of 32 bytes). */
export function newPseudonymKey(): string {
  return randomBytes(32).toString('base64');
}

async function keyring(fresh = false): Promise<Keyring> {
  const raw = await secrets().get(KEYRING_SECRET, fresh ? { fresh: true } : undefined);
  if (!raw) throw new Error(`The data-key secret '${KEYRING_SECRET}' is missing`);
  const ring = v.parse(keyringSchema, JSON.parse(raw));
  if (!ring.keys[ring.current]) throw new Error('The current data key is not in the keyring');
  return ring;
}

/**
 * Reads the keyring now (through the secret cache), so that later seals and opens do not wait on
 * Secrets Manager: call it before entering a time-bounded section such as a refresh lease.
 */
export async function loadKeyring(): Promise<void> {
  await keyring();
}

/** A key id a fresh read did not find either, with when: not re-read for RECHECK_MS. */
const missingKids = new Map<string, number>();
const RECHECK_MS = 30_000;
let freshRead: Promise<Keyring> | undefined;

/**
 * The keyring for a ciphertext whose key id the cached copy lacks. Right after a rotation a
 * function whose cache predates it may read values another function sealed with the new key:
 * the keyring is read again once, bypassing the cache (concurrent callers share that read), before
 * giving up. A key id still missing is not re-read for RECHECK_MS, so a value sealed with a key
 * removed from the keyring does not turn every read into a Secrets Manager call.
 */
async function keyringWith(kid: string, cached: Keyring): Promise<Keyring> {
  const missedAt = missingKids.get(kid);
  if (missedAt !== undefined && Date.now() - missedAt < RECHECK_MS) return cached;
  freshRead ??= keyring(true).finally(() => {
    freshRead = undefined;
  });
  const ring = await freshRead;
  if (ring.keys[kid]) missingKids.delete(kid);
  else missingKids.set(kid, Date.now());
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

/**
 * Decrypts what {@link encrypt} produced; throws if the data, key or `aad` do not match. A key id
 * the cached keyring lacks triggers one fresh read of the keyring (see {@link keyringWith}).
 */
export async function decrypt(sealed: string, aad: string): Promise<string> {
  const [version, kid, iv, ct, tag] = sealed.split('.');
  if (version !== 'v1' || !kid || !iv || ct === undefined || !tag) throw new Error('Not a sealed value');
  const cached = await keyring();
  const ring = cached.keys[kid] ? cached : await keyringWith(kid, cached);
  const decipher = createDecipheriv('aes-256-gcm', keyBytes(ring, kid), Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
}

/** The current key id (what {@link encrypt} seals with now). */
export async function currentKeyId(): Promise<string> {
  return (await keyring()).current;
}

/** The key id a sealed value was encrypted with (for re-encryption after a rotation). */
export function sealedKeyId(sealed: string): string | undefined {
  return sealed.split('.')[1];
}

/**
 * The pseudonym of an identifier: HMAC-SHA-256 under the keyring's pseudonym key, as 32
 * base64url characters (192 bits). Stable forever for one value (the key never rotates), and
 * not reversible nor recomputable without the key.
 */
export async function pseudonymize(value: string): Promise<string> {
  const raw = (await keyring()).pseudonym_key;
  if (!raw) throw new Error('The keyring has no pseudonym_key (the keyring initialiser adds one)');
  const key = Buffer.from(raw, 'base64');
  if (key.length !== 32) throw new Error('The pseudonym key is not 32 bytes');
  return createHmac('sha256', key).update(value, 'utf8').digest('base64url').slice(0, 32);
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
