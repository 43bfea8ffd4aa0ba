import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/** Prefix of PronaFlow personal access tokens (secret scanners match on it). */
export const TOKEN_PREFIX = 'pfi_';
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** 32 base62 characters = 190 bits of randomness (the issue asks for at least 160). */
export const BODY_LENGTH = 32;
/** CRC32 (32 bits) fits in 6 base62 characters (62^6 ≈ 5.7e10 > 2^32). */
export const CHECKSUM_LENGTH = 6;
export const TOKEN_LENGTH = TOKEN_PREFIX.length + BODY_LENGTH + CHECKSUM_LENGTH;
const SHAPE = new RegExp(`^${TOKEN_PREFIX}[0-9A-Za-z]{${BODY_LENGTH + CHECKSUM_LENGTH}}$`);

/** Uniform random base62 string: bytes ≥ 248 are rejected so that `% 62` has no bias. */
function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < 248 && out.length < length) out += ALPHABET[b % 62];
    }
  }
  return out;
}

function base62(n: number, width: number): string {
  let out = '';
  let v = n;
  for (let i = 0; i < width; i++) {
    out = ALPHABET[v % 62] + out;
    v = Math.floor(v / 62);
  }
  return out;
}

/** The 6-character base62 CRC32 of a token body. */
export function checksum(body: string): string {
  return base62(crc32(body) >>> 0, CHECKSUM_LENGTH);
}

/** A new token value: `pfi_` + 32 random base62 characters + 6-character CRC32 checksum. */
export function generateToken(): string {
  const body = randomBase62(BODY_LENGTH);
  return `${TOKEN_PREFIX}${body}${checksum(body)}`;
}

/**
 * True when `value` has the token shape and its checksum matches: mistyped, truncated or made-up
 * tokens are refused here, before any database read.
 */
export function isWellFormedToken(value: string): boolean {
  if (value.length !== TOKEN_LENGTH || !SHAPE.test(value)) return false;
  const body = value.slice(TOKEN_PREFIX.length, TOKEN_PREFIX.length + BODY_LENGTH);
  return checksum(body) === value.slice(TOKEN_PREFIX.length + BODY_LENGTH);
}
