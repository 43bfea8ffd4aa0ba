import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateSecret, secretProblem, signedHeaders } from '#shared/webhooks/signing.ts';

describe('webhook signing', () => {
  it('generates whsec_ secrets of 32 random bytes', () => {
    const s = generateSecret();
    expect(s).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(s.slice(6), 'base64')).toHaveLength(32);
    expect(generateSecret()).not.toBe(s);
    expect(secretProblem(s)).toBeUndefined();
  });

  it('produces headers the standardwebhooks verifier accepts', () => {
    const secret = generateSecret();
    const body = JSON.stringify({ type: 'task.created', timestamp: '2026-01-01T00:00:00Z', data: { a: 1 } });
    const headers = signedHeaders([secret], 'dlv_1', Math.floor(Date.now() / 1000), body);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('signs with both secrets during a rotation, so either verifies', () => {
    const [old, fresh] = [generateSecret(), generateSecret()];
    const body = '{"type":"ping","timestamp":"t","data":{}}';
    const headers = signedHeaders([fresh, old], 'dlv_2', Math.floor(Date.now() / 1000), body);
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2);
    expect(() => new Webhook(old).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(fresh).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(generateSecret()).verify(body, headers)).toThrow();
  });

  it('fails verification when the body was changed', () => {
    const secret = generateSecret();
    const headers = signedHeaders([secret], 'dlv_3', Math.floor(Date.now() / 1000), '{"a":1}');
    expect(() => new Webhook(secret).verify('{"a":2}', headers)).toThrow();
  });

  it('refuses secrets without the prefix, not base64, or too short or long', () => {
    expect(secretProblem('abc')).toMatch(/whsec_/);
    expect(secretProblem('whsec_@@@@')).toMatch(/base64/);
    expect(secretProblem(`whsec_${Buffer.alloc(16).toString('base64')}`)).toMatch(/24 to 64/);
    expect(secretProblem(`whsec_${Buffer.alloc(65).toString('base64')}`)).toMatch(/24 to 64/);
  });

  const whsec = (bytes: Buffer | number[]) => `whsec_${Buffer.from(bytes).toString('base64')}`;

  it.each([
    ['24 zero bytes', Buffer.alloc(24)],
    ['one byte repeated', Buffer.alloc(32, 7)],
    ['a counting sequence', [...Array(24).keys()]],
    ['a sequence with a stride', [...Array(32).keys()].map((i) => (i * 37) & 0xff)],
    ['a short pattern repeated', Buffer.from(randomBytes(4).toString('hex').repeat(8), 'hex')],
    ['a password in base64', Buffer.from('correct horse battery staple!')],
    [
      'printable text of 64 bytes',
      Buffer.from('x'.repeat(8) + 'The quick brown fox jumps over the lazy dog, 0123456789.'),
    ],
  ])('refuses a caller-chosen secret that is not random: %s', (_name, bytes) => {
    expect(secretProblem(whsec(bytes as Buffer))).toMatch(/not random enough/);
  });

  it('accepts every random secret of 24, 32 and 64 bytes (5000 tries each)', () => {
    for (const size of [24, 32, 64]) {
      const refused = Array.from({ length: 5000 }, () => whsec(randomBytes(size))).filter(secretProblem);
      expect(refused, `${size} bytes`).toEqual([]);
    }
  });
});
