import { createHmac, randomBytes } from 'node:crypto';

/** Prefix of Standard Webhooks secrets. */
export const SECRET_PREFIX = 'whsec_';
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;

/** A new Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/** Why a caller-supplied secret is refused, or undefined when it is a valid Standard Webhooks secret. */
export function secretProblem(secret: string): string | undefined {
  if (!secret.startsWith(SECRET_PREFIX)) return `A secret starts with "${SECRET_PREFIX}"`;
  const b64 = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) {
    return `A secret is "${SECRET_PREFIX}" followed by standard base64`;
  }
  const key = Buffer.from(b64, 'base64');
  if (key.length < MIN_SECRET_BYTES || key.length > MAX_SECRET_BYTES) {
    return `A secret holds ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} bytes of key (this one has ${key.length})`;
  }
  if (looksChosen(key)) {
    return 'The secret is not random enough: omit `secret` to have one generated, or use 24+ random bytes';
  }
  return undefined;
}

/**
 * True when a key is evidently not random: few distinct bytes (`whsec_` + 24 zero bytes), a
 * sequence or repeated pattern (few distinct steps between neighbours), or printable text (a
 * password in base64). For 24 truly random bytes each test fails with a chance below 1e-10,
 * so a real secret (one from a secrets manager or `openssl rand`) is never refused.
 */
function looksChosen(key: Buffer): boolean {
  const distinct = new Set(key).size;
  const steps = new Set(key.subarray(1).map((b, i) => (b - (key[i] as number)) & 0xff)).size;
  const printable = key.every((b) => b >= 0x20 && b < 0x7f);
  return distinct < 16 || steps < 12 || printable;
}

/** `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` for one secret. */
export function signature(secret: string, msgId: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
  const mac = createHmac('sha256', key).update(`${msgId}.${timestamp}.${body}`, 'utf8').digest('base64');
  return `v1,${mac}`;
}

/**
 * The Standard Webhooks headers for one attempt. Every secret in `secrets` signs (during a
 * rotation, the new and the old one), space-separated in `webhook-signature`.
 */
export function signedHeaders(
  secrets: string[],
  msgId: string,
  timestamp: number,
  body: string,
): Record<string, string> {
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((s) => signature(s, msgId, timestamp, body)).join(' '),
  };
}
