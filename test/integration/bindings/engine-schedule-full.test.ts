import { describe, expect, it } from 'vitest';
import { workOnRun } from '#shared/bindings/engine.ts';
import { finishRun, startRun } from '#shared/bindings/runs.ts';
import { FULL_RUN_EVERY_HOURS, startDueRuns, writeScheduleMarker } from '#shared/bindings/schedule.ts';
import type { BindingItem } from '#shared/bindings/store.ts';
import { messageOf, useBindingsEnv } from '#test/helpers/bindings.ts';

// Scheduled runs are incremental, and incremental runs never see an issue deleted at GitHub: the
// scheduler makes a run full when the binding's last complete full run is older than a day.

const env = useBindingsEnv();

const HOUR = 3600_000;
type WithFull = BindingItem & { last_full_run_at?: string };

/** Makes the binding due at `now`, runs the scheduler, works the run it started; returns that run. */
async function scheduledRun(binding: BindingItem, now: Date) {
  await writeScheduleMarker(await env.binding(binding), new Date(now.getTime() - 1000).toISOString());
  await startDueRuns({ now });
  const runId = (await env.binding(binding)).active_run_id as string;
  expect(runId).toBeDefined();
  const ref = { connection_id: binding.connection_id, binding_id: binding.id, id: runId };
  await env.receiveAll(env.queues.sync);
  expect(await workOnRun(messageOf(ref), env.opts())).toBe('finished');
  return env.run(ref);
}

describe('periodic full runs of scheduled bindings', () => {
  it('full first, incremental within the day, full again after it: the issue deleted meanwhile is found', async () => {
    const binding = await env.makeBinding({ schedule: { every_minutes: 15 } });
    const repo = binding.resource.repo as string;
    env.gh.seed({ owner: 'acme', repo, issues: 5, start: new Date(env.clock.now() - 600_000) });
    const t0 = Date.now();

    const first = await scheduledRun(binding, new Date(t0));
    expect(first).toMatchObject({ status: 'SUCCEEDED', trigger: 'schedule', full: true });
    const stamped = (await env.binding(binding)) as WithFull;
    expect(stamped.last_full_run_at).toBe(first.finished_at);
    await env.records();

    env.gh.deleteIssue('acme', repo, 3);
    const within = await scheduledRun(binding, new Date(t0 + HOUR));
    expect(within).toMatchObject({ status: 'SUCCEEDED', full: false });
    expect(within.inbound.deleted).toBe(0);
    expect(((await env.binding(binding)) as WithFull).last_full_run_at).toBe(first.finished_at);

    const after = await scheduledRun(binding, new Date(t0 + (FULL_RUN_EVERY_HOURS + 1) * HOUR));
    expect(after).toMatchObject({ status: 'SUCCEEDED', full: true });
    expect(after.inbound.deleted).toBe(1);
    expect((await env.records()).filter((r) => r.op === 'delete').map((r) => r.external.id)).toEqual(['3']);
    expect(((await env.binding(binding)) as WithFull).last_full_run_at).toBe(after.finished_at);
  });

  it('only a full run that read every page counts: a failed full run or an incremental one leaves the date', async () => {
    const binding = await env.makeBinding({ schedule: { every_minutes: 15 } });
    const failed = await startRun(binding, { trigger: 'manual', full: true });
    await finishRun(failed, { status: 'FAILED', error: { code: 'provider_error', message: 'x' } });
    expect(((await env.binding(binding)) as WithFull).last_full_run_at).toBeUndefined();
    const incremental = await startRun(await env.binding(binding), { trigger: 'manual' });
    await finishRun(incremental, { status: 'SUCCEEDED' });
    expect(((await env.binding(binding)) as WithFull).last_full_run_at).toBeUndefined();
    const partial = await startRun(await env.binding(binding), { trigger: 'manual', full: true });
    await finishRun(partial, { status: 'PARTIAL' });
    expect(((await env.binding(binding)) as WithFull).last_full_run_at).toEqual(expect.any(String));
    await env.receiveAll(env.queues.sync);
  });
});
