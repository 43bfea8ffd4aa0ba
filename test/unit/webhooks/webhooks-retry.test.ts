import { describe, expect, it } from 'vitest';
import { backoffSeconds, decide, retryAfterSeconds } from '#shared/webhooks/retry.ts';

const settings = { maxRetries: 5, baseSeconds: 60 };
const now = new Date('2026-01-01T00:00:00Z');
const mid = () => 0.5; // jitter factor exactly 1.0

describe('backoffSeconds', () => {
  it('doubles from the base for EXPONENTIAL (jitter factor 1 at random 0.5)', () => {
    expect([0, 1, 2, 3, 4].map((n) => backoffSeconds('EXPONENTIAL', n, settings, mid))).toEqual([
      60, 120, 240, 480, 960,
    ]);
  });

  it('keeps EXPONENTIAL jitter within [0.8, 1.2) of the nominal delay', () => {
    expect(backoffSeconds('EXPONENTIAL', 2, settings, () => 0)).toBe(192);
    expect(backoffSeconds('EXPONENTIAL', 2, settings, () => 0.9999)).toBe(288);
  });

  it('grows linearly for LINEAR', () => {
    expect([0, 1, 2].map((n) => backoffSeconds('LINEAR', n, settings))).toEqual([60, 120, 180]);
  });

  it('never retries with NONE and stops after WEBHOOK_MAX_RETRIES', () => {
    expect(backoffSeconds('NONE', 0, settings)).toBeUndefined();
    expect(backoffSeconds('EXPONENTIAL', 5, settings, mid)).toBeUndefined();
    expect(backoffSeconds('LINEAR', 4, settings)).toBe(300);
  });
});

describe('retryAfterSeconds', () => {
  it('reads delta-seconds and HTTP dates, and ignores garbage', () => {
    expect(retryAfterSeconds('120', now)).toBe(120);
    expect(retryAfterSeconds('Thu, 01 Jan 2026 00:05:00 GMT', now)).toBe(300);
    expect(retryAfterSeconds('soon', now)).toBeUndefined();
    expect(retryAfterSeconds(undefined, now)).toBeUndefined();
  });
});

describe('decide', () => {
  const base = { policy: 'EXPONENTIAL' as const, settings, now, random: mid };

  it('delivers on any 2xx', () => {
    expect(decide({ ...base, status: 204, attemptsMade: 1 })).toEqual({ kind: 'delivered' });
  });

  it('retries a 500 or a transport error with the backoff of the attempt', () => {
    expect(decide({ ...base, status: 500, attemptsMade: 1 })).toEqual({ kind: 'retry', delaySeconds: 60 });
    expect(decide({ ...base, error: 'Connection refused', attemptsMade: 3 })).toEqual({
      kind: 'retry',
      delaySeconds: 240,
    });
  });

  it('treats a redirect as a failure (redirects are never followed)', () => {
    expect(decide({ ...base, status: 302, attemptsMade: 1 }).kind).toBe('retry');
  });

  it('fails after the last retry', () => {
    const d = decide({ ...base, status: 500, attemptsMade: 6 });
    expect(d).toMatchObject({ kind: 'failed', reason: 'HTTP 500 after 6 attempts', deadLetter: true });
  });

  it('fails at once, without retries or DLQ, when the target was refused at delivery time', () => {
    expect(
      decide({
        ...base,
        refused: 'Refused target: 10.0.0.1 is in a refused range (private)',
        error: 'Refused target: 10.0.0.1 is in a refused range (private)',
        attemptsMade: 1,
      }),
    ).toEqual({
      kind: 'failed',
      reason: 'Refused target: 10.0.0.1 is in a refused range (private)',
      deadLetter: false,
    });
  });

  it('retries a resolution failure like any transport error', () => {
    expect(
      decide({ ...base, error: 'The host hooks.example.com could not be resolved', attemptsMade: 1 }),
    ).toEqual({ kind: 'retry', delaySeconds: 60 });
  });

  it('fails at once with NONE', () => {
    expect(decide({ ...base, policy: 'NONE', status: 500, attemptsMade: 1 })).toMatchObject({
      kind: 'failed',
    });
  });

  it('fails and disables the endpoint on 410', () => {
    expect(decide({ ...base, status: 410, attemptsMade: 1 })).toMatchObject({
      kind: 'failed',
      disableEndpoint: expect.stringContaining('410'),
      deadLetter: false,
    });
  });

  it('waits what Retry-After asks on 429 and 503, never less than the backoff', () => {
    expect(decide({ ...base, status: 429, retryAfter: '600', attemptsMade: 1 })).toEqual({
      kind: 'retry',
      delaySeconds: 600,
    });
    expect(decide({ ...base, status: 503, retryAfter: '5', attemptsMade: 1 })).toEqual({
      kind: 'retry',
      delaySeconds: 60,
    });
    expect(decide({ ...base, status: 500, retryAfter: '600', attemptsMade: 1 })).toEqual({
      kind: 'retry',
      delaySeconds: 60,
    });
  });
});
