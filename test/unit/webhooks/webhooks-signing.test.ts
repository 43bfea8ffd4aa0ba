import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateSecret, signedHeaders } from '#shared/webhooks/signing.ts';

describe('webhook signing', () => {
  it('generates whsec_ secrets of 32 random bytes', () => {
    const s = generateSecret();
    expect(s).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(s.slice(6), 'base64')).toHaveLength(32);
    expect(generateSecret()).not.toBe(s);
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
});
