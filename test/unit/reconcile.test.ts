import { describe, expect, it } from 'vitest';
import { reconcilers } from '#functions/workers/reconcile-jobs.ts';
import { workers } from '#functions/workers.ts';
import { type Reconciler, runReconcilers } from '#shared/reconcile.ts';

const ok = (name: string, seen: string[]): Reconciler => ({
  name,
  run: async () => {
    seen.push(name);
    return { requeued: 1, stopped: false };
  },
});

describe('runReconcilers', () => {
  it('runs every reconciler and reports each one’s stats by name', async () => {
    const seen: string[] = [];
    const stats = await runReconcilers([ok('a', seen), ok('b', seen)]);
    expect(seen).toEqual(['a', 'b']);
    expect(stats).toEqual({ a: { requeued: 1, stopped: false }, b: { requeued: 1, stopped: false } });
  });

  it('runs the others when one fails, then fails the invocation naming it', async () => {
    const seen: string[] = [];
    const broken: Reconciler = {
      name: 'broken',
      run: async () => {
        throw new Error('boom');
      },
    };
    await expect(runReconcilers([broken, ok('b', seen)])).rejects.toThrow(/Reconcilers failed: broken/);
    expect(seen).toEqual(['b']);
  });

  it('starts no reconciler once out of time', async () => {
    const seen: string[] = [];
    expect(await runReconcilers([ok('a', seen)], { shouldStop: () => true })).toEqual({});
    expect(seen).toEqual([]);
  });
});

describe('the reconcileJobs worker', () => {
  it('runs the webhook deliveries reconciler on a schedule, allowed to send to the deliveries queue', () => {
    expect(reconcilers.map((r) => r.name)).toContain('webhooks.deliveries');
    const row = workers.find((w) => w.id === 'reconcileJobs');
    expect(row?.trigger).toEqual({ schedule: 'rate(5 minutes)' });
    expect(row?.grants).toEqual(
      expect.arrayContaining(['table:read', 'table:write', 'queue:deliveries:send']),
    );
  });
});
