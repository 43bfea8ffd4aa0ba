/**
 * The workers' declarations that the CDK stack and the local runtime both read must be valid
 * where neither checks them: a queue trigger's `maxConcurrency` is the event source mapping's
 * MaximumConcurrency (AWS accepts an integer 2–1000, else the deploy fails) and the number of
 * local pollers.
 */
import { describe, expect, it } from 'vitest';
import { type WorkerDef, workers } from '#functions/workers.ts';

type QueueTrigger = Extract<WorkerDef['trigger'], { queue: string }>;

/** Why a declared maxConcurrency is refused, or undefined when it is fine (absent or 2–1000). */
function maxConcurrencyProblem(trigger: QueueTrigger): string | undefined {
  const n = trigger.maxConcurrency;
  if (n === undefined) return undefined;
  if (!Number.isInteger(n)) return `${n} is not an integer`;
  if (n < 2 || n > 1000) return `${n} is outside 2–1000`;
  return undefined;
}

describe('the workers catalogue', () => {
  const queueWorkers = workers.filter(
    (w): w is WorkerDef & { trigger: QueueTrigger } => 'queue' in w.trigger,
  );

  it('declares every queue worker maxConcurrency as an integer 2–1000, when declared', () => {
    expect(queueWorkers.length).toBeGreaterThan(0);
    for (const w of queueWorkers) expect(maxConcurrencyProblem(w.trigger), w.id).toBeUndefined();
    // At least one worker declares it (the webhook deliveries'), so the check is not vacuous.
    expect(queueWorkers.some((w) => w.trigger.maxConcurrency !== undefined)).toBe(true);
  });

  it('refuses what AWS would refuse', () => {
    const t = (maxConcurrency: number): QueueTrigger => ({
      queue: 'deliveries',
      batchSize: 1,
      maxConcurrency,
    });
    expect(maxConcurrencyProblem(t(1))).toMatch(/outside/);
    expect(maxConcurrencyProblem(t(1001))).toMatch(/outside/);
    expect(maxConcurrencyProblem(t(2.5))).toMatch(/integer/);
    expect(maxConcurrencyProblem(t(2))).toBeUndefined();
    expect(maxConcurrencyProblem(t(1000))).toBeUndefined();
  });
});
