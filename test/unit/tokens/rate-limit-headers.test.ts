import { describe, expect, it } from 'vitest';
import { rateLimitHeaders } from '#shared/tokens/rate-limit.ts';

describe('rateLimitHeaders', () => {
  it('writes the IETF draft fields and the X-RateLimit-* fields', () => {
    const now = 1_700_000_030_000;
    const headers = rateLimitHeaders(
      {
        subject: 'token',
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
    });
  });
});
