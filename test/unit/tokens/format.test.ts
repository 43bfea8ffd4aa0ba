import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BODY_LENGTH,
  CHECKSUM_LENGTH,
  checksum,
  generateToken,
  isWellFormedToken,
  TOKEN_LENGTH,
  TOKEN_PREFIX,
} from '#shared/tokens/format.ts';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

describe('token format', () => {
  it('makes pfi_ + 32 base62 characters + a 6-character checksum', () => {
    const token = generateToken();
    expect(token).toMatch(/^pfi_[0-9A-Za-z]{38}$/);
    expect(token).toHaveLength(TOKEN_LENGTH);
    expect(token.slice(-6)).toBe(checksum(token.slice(4, 36)));
    expect(isWellFormedToken(token)).toBe(true);
  });

  it('carries at least 160 bits of randomness and never repeats', () => {
    expect(BODY_LENGTH * Math.log2(62)).toBeGreaterThanOrEqual(160);
    const body = generateToken().slice(TOKEN_PREFIX.length, TOKEN_PREFIX.length + BODY_LENGTH);
    expect(body).toMatch(new RegExp(`^[0-9A-Za-z]{${BODY_LENGTH}}$`));
    expect(TOKEN_LENGTH).toBe(TOKEN_PREFIX.length + BODY_LENGTH + CHECKSUM_LENGTH);
    const many = new Set(Array.from({ length: 2000 }, generateToken));
    expect(many.size).toBe(2000);
  });

  it('uses every base62 character about evenly (no modulo bias)', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++)
      for (const c of generateToken().slice(4, 36)) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(62);
    const expected = (2000 * 32) / 62;
    for (const n of counts.values()) expect(Math.abs(n - expected) / expected).toBeLessThan(0.25);
  });

  it('rejects any single-character change, truncation or extension', () => {
    const token = generateToken();
    fc.assert(
      fc.property(fc.integer({ min: 4, max: TOKEN_LENGTH - 1 }), fc.constantFrom(...BASE62), (pos, ch) => {
        fc.pre(token[pos] !== ch);
        const typo = token.slice(0, pos) + ch + token.slice(pos + 1);
        expect(isWellFormedToken(typo)).toBe(false);
      }),
    );
    expect(isWellFormedToken(token.slice(0, -1))).toBe(false);
    expect(isWellFormedToken(`${token}A`)).toBe(false);
  });

  it('rejects other prefixes, other alphabets and made-up values', () => {
    const token = generateToken();
    expect(isWellFormedToken(`ghp_${token.slice(4)}`)).toBe(false);
    expect(isWellFormedToken(`pfi_${'A'.repeat(38)}`)).toBe(false);
    expect(isWellFormedToken(`${token.slice(0, 10)}-${token.slice(11)}`)).toBe(false);
    expect(isWellFormedToken('')).toBe(false);
  });
});
