import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  acquireSlot,
  gateState,
  INITIAL_LIMIT,
  MAX_SLOT_WAIT_MS,
  resetGate,
  SLOW_ATTEMPT_MS,
} from '#shared/webhooks/endpoint-gate.ts';

describe('the per-endpoint concurrency gate', () => {
  beforeEach(() => {
    resetGate();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => vi.useRealTimers());

  it('puts a job back at once when its endpoint has a slow attempt in flight, and leaves other endpoints alone', async () => {
    const held = await Promise.all(Array.from({ length: INITIAL_LIMIT }, () => acquireSlot('wh_hang')));
    expect(held.every(Boolean)).toBe(true);
    vi.advanceTimersByTime(SLOW_ATTEMPT_MS);

    expect(await acquireSlot('wh_hang')).toBeUndefined();
    const other = await acquireSlot('wh_ok');
    expect(other).toBeDefined();
    other?.done({ durationMs: 5, timedOut: false });
  });

  it('lets a job wait for a slot of an endpoint whose attempts are young', async () => {
    const first = await acquireSlot('wh_busy');
    const second = await acquireSlot('wh_busy');
    let third: Awaited<ReturnType<typeof acquireSlot>> | 'waiting' = 'waiting';
    const waiting = acquireSlot('wh_busy').then((s) => {
      third = s;
    });
    await vi.advanceTimersByTimeAsync(10);
    expect(third).toBe('waiting');

    first?.done({ durationMs: 10, timedOut: false });
    await waiting;
    expect(third).toBeDefined();
    second?.done({ durationMs: 10, timedOut: false });
  });

  it('gives up waiting after MAX_SLOT_WAIT_MS', async () => {
    await acquireSlot('wh_full');
    await acquireSlot('wh_full');
    const waiting = acquireSlot('wh_full');
    await vi.advanceTimersByTimeAsync(MAX_SLOT_WAIT_MS + 200);
    expect(await waiting).toBeUndefined();
  });

  it('grows the limit with fast answers and halves it on a timeout', async () => {
    for (let i = 0; i < 5; i++) (await acquireSlot('wh_adapt'))?.done({ durationMs: 3, timedOut: false });
    expect(gateState('wh_adapt')?.limit).toBe(INITIAL_LIMIT + 5);
    (await acquireSlot('wh_adapt'))?.done({ durationMs: 5000, timedOut: true });
    expect(gateState('wh_adapt')?.limit).toBe(Math.floor((INITIAL_LIMIT + 5) / 2));
  });
});
