import { describe, expect, it } from 'vitest';
import { type RateLimitState, rateLimitHeaders } from '#shared/tokens/rate-limit.ts';
import { isDeactivation } from '#shared/tokens/schemas.ts';

describe('rateLimitHeaders', () => {
  it('writes the IETF draft fields and the X-RateLimit-* fields', () => {
    const now = 1_700_000_030_000;
    const headers = rateLimitHeaders(
      {
        subject: 'token',
        budget: 'api',
        plan: 'pro',
        limit: 1000,
        used: 1,
        remaining: 999,
        windowSeconds: 60,
        resetAt: 1_700_000_040,
        allowed: true,
      },
      now,
    );
    expect(headers).toEqual({
      'RateLimit-Policy': '"pro";q=1000;w=60',
      RateLimit: '"pro";r=999;t=10',
      'X-RateLimit-Limit': '1000',
      'X-RateLimit-Remaining': '999',
      'X-RateLimit-Reset': '1700000040',
      'X-RateLimit-Used': '1',
      'X-RateLimit-Resource': 'api',
    });
  });

  it('names the management budget apart, in the policy and in X-RateLimit-Resource', () => {
    const state: RateLimitState = {
      subject: 'session',
      budget: 'management',
      plan: 'free',
      limit: 60,
      used: 60,
      remaining: 0,
      windowSeconds: 60,
      resetAt: 1_700_000_040,
      allowed: false,
    };
    expect(rateLimitHeaders(state, 1_700_000_030_000)).toMatchObject({
      'RateLimit-Policy': '"free-management";q=60;w=60',
      RateLimit: '"free-management";r=0;t=10',
      'X-RateLimit-Resource': 'management',
    });
  });
});

describe('isDeactivation', () => {
  it('picks out exactly the body {"is_active": false}', () => {
    expect(isDeactivation({ body: '{"is_active":false}' })).toBe(true);
    expect(isDeactivation({ body: ' { "is_active" : false } ' })).toBe(true);
    expect(
      isDeactivation({ body: Buffer.from('{"is_active":false}').toString('base64'), isBase64Encoded: true }),
    ).toBe(true);
    for (const body of [
      undefined,
      '',
      '{"is_active":true}',
      '{"is_active":"false"}',
      '{"is_active":false,"name":"x"}',
      '[{"is_active":false}]',
      'null',
      '{"is_active":fal',
      `{"is_active":false${' '.repeat(300)}}`,
    ])
      expect(isDeactivation({ body }), String(body)).toBe(false);
  });
});
