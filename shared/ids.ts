import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

function encodeTime(ms: number, length: number): string {
  let out = '';
  let t = ms;
  for (let i = 0; i < length; i++) {
    out = CROCKFORD[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

function encodeRandom(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += CROCKFORD[b % 32];
  return out;
}

/** A ULID-like identifier body: 10 chars of millisecond time + 16 random chars, lexically sortable. */
export function sortableId(now = Date.now()): string {
  return encodeTime(now, 10) + encodeRandom(16);
}

/** Prefixed, time-sortable public id, e.g. `tok_01jd…`. */
export function newId(prefix: string, now = Date.now()): string {
  return `${prefix}_${sortableId(now)}`;
}

/** True when `id` looks like an id made by {@link newId} with this prefix. */
export function isId(prefix: string, id: string): boolean {
  return new RegExp(`^${prefix}_[0-9a-hjkmnp-tv-z]{26}$`).test(id);
}
