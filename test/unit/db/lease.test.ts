import { describe, expect, it } from 'vitest';
import { LEASE_FREE, leaseHeld, leaseValues, secondsLeft } from '#shared/db/lease.ts';

describe('leases (epoch milliseconds everywhere)', () => {
  const now = new Date('2026-12-01T12:00:00.000Z');

  it('gives the condition its values, and a new lease its end, in milliseconds', () => {
    expect(LEASE_FREE).toContain(':leaseNow');
    expect(leaseValues(now)).toEqual({ ':leaseNow': now.getTime() });
    expect(leaseValues(now.getTime(), 45_000)).toEqual({
      ':leaseNow': now.getTime(),
      ':leaseUntil': now.getTime() + 45_000,
    });
  });

  it('tells a held lease from an ended one, to the millisecond', () => {
    expect(leaseHeld(now.getTime() + 1, now)).toBe(true);
    expect(leaseHeld(now.getTime(), now)).toBe(true);
    expect(leaseHeld(now.getTime() - 1, now)).toBe(false);
    expect(leaseHeld(undefined, now)).toBe(false);
    // A lease written in seconds (the old unit of deliveries) reads as long over, never as held.
    expect(leaseHeld(Math.floor(now.getTime() / 1000) + 3600, now)).toBe(false);
  });

  it('rounds the time left up to whole seconds, at least one', () => {
    expect(secondsLeft(now.getTime() + 1500, now)).toBe(2);
    expect(secondsLeft(now.getTime() - 5000, now)).toBe(1);
  });
});
