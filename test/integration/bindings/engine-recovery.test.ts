import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bindings } from '#functions/bindings/feature.ts';
import { workOnRun } from '#shared/bindings/engine.ts';
import { bindingKeys } from '#shared/bindings/keys.ts';
import {
  type ActiveRunItem,
  cancelRun,
  finishRun,
  MAX_RUN_RECOVERIES,
  requestRunForChanges,
  startRun,
} from '#shared/bindings/runs.ts';
import { recoverStalledRuns, STALL_MARGIN_MS } from '#shared/bindings/schedule.ts';
import type { BindingItem, RunItem } from '#shared/bindings/store.ts';
import { db, tableName } from '#shared/db/client.ts';
import { logger } from '#shared/logger.ts';
import { sqs } from '#shared/queues.ts';
import { runWithGrants } from '#shared/runtime-grants.ts';
import { messageOf, useBindingsEnv } from '#test/helpers/bindings.ts';

// Runs whose worker died without a word (a Lambda timeout or out-of-memory on every receive, the
// message gone to the DLQ): cancelling them, the scheduler's sweep of stalled runs through the
// active-runs index (B9), and the follow-up run a finished run could not start.

const env = useBindingsEnv();

afterEach(() => vi.restoreAllMocks());

const seeded = async (issues: number) => {
  const binding = await env.makeBinding();
  env.gh.seed({ owner: 'acme', repo: binding.resource.repo as string, issues });
  return binding;
};

const start = async (b: BindingItem) => startRun(await env.binding(b), { trigger: 'manual' });
const active = async (r: Pick<RunItem, 'connection_id' | 'binding_id' | 'id'>) =>
  (await env.run(r)) as ActiveRunItem;

/** The run's entry in the active-runs index, or undefined. */
async function indexEntry(run: Pick<RunItem, 'id'>): Promise<string | undefined> {
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': bindingKeys.activeRunPartition },
    }),
  );
  return (out.Items ?? []).find((i) => i.id === run.id)?.gsi1sk as string | undefined;
}

/** The scheduler's sweep at `at`, with exactly the scheduleSyncs worker's grants. */
const scheduleGrants = bindings.workers.find((w) => w.id === 'scheduleSyncs')?.grants ?? [];
const sweep = (at: number) => runWithGrants(scheduleGrants, () => recoverStalledRuns({ now: new Date(at) }));
/** The run ids of the sync queue's messages (other tests' stalled runs left out: the sweep sees them too). */
const syncMessages = async (of?: Pick<RunItem, 'id'>) =>
  (await env.receiveAll<{ run_id: string }>(env.queues.sync))
    .map((m) => m.run_id)
    .filter((id) => !of || id === of.id);
/** When the run's index entry says it should have moved by (epoch ms). */
const entryTime = async (run: Pick<RunItem, 'id'>) =>
  Date.parse((await indexEntry(run))?.split('#')[0] ?? '');

describe('cancelling a run no invocation holds', () => {
  it('a RUNNING run between shares is CANCELLED at once, its counts kept, its binding free', async () => {
    const binding = await seeded(250);
    const run = await start(binding);
    expect(await workOnRun(messageOf(run), env.opts({ maxPages: 1 }))).toBe('continued');
    const cancelled = await cancelRun(await env.binding(binding), run.id);
    expect(cancelled).toMatchObject({ status: 'CANCELLED', error: { code: 'cancelled' } });
    const after = await env.run(run);
    expect(after.status).toBe('CANCELLED');
    expect(after.inbound.added).toBe(100);
    const b = await env.binding(binding);
    expect(b.active_run_id).toBeUndefined();
    expect(b.last_run?.status).toBe('CANCELLED');
    // Its queued message finds it finished.
    expect(await workOnRun(messageOf(run), env.opts())).toBe('skipped');
    expect(await indexEntry(run)).toBeUndefined();
  });

  it('a RUNNING run whose invocation died holding the lease: asked to stop while the lease holds, CANCELLED once it has expired', async () => {
    const binding = await seeded(5);
    const run = await start(binding);
    const until = Date.now() + 60_000;
    // An invocation took it, then died (no release): the lease holds for a minute.
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: { pk: run.pk, sk: run.sk },
        UpdateExpression: 'SET #st = :r, lease_owner = :o, lease_until = :u',
        ExpressionAttributeNames: { '#st': 'status' },
        ExpressionAttributeValues: { ':r': 'RUNNING', ':o': 'inv_dead', ':u': until },
      }),
    );
    const asked = await cancelRun(await env.binding(binding), run.id);
    expect(asked).toMatchObject({ status: 'RUNNING', cancel_requested: true });
    const later = await cancelRun(await env.binding(binding), run.id, new Date(until + 1000));
    expect(later.status).toBe('CANCELLED');
    expect((await env.binding(binding)).active_run_id).toBeUndefined();
  });
});

describe('the sweep of stalled runs', () => {
  it('an active run has an index entry (queued time, then its lease end) that its end removes', async () => {
    const binding = await seeded(150);
    const run = await start(binding);
    expect(await indexEntry(run)).toBe(`${run.queued_at}#${run.id}`);
    expect(await workOnRun(messageOf(run), env.opts({ maxPages: 1 }))).toBe('continued');
    // Its claim moved it to the lease's end (past this share's deadline; the release keeps it).
    expect(await entryTime(run)).toBeGreaterThan(env.clock.now() + 60_000);
    expect(await indexEntry(run)).toMatch(new RegExp(`#${run.id}$`));
    expect(await workOnRun(messageOf(run), env.opts())).toBe('finished');
    expect(await indexEntry(run)).toBeUndefined();
    expect((await active(run)).gsi1pk).toBeUndefined();
  });

  it('a RUNNING run whose message was lost is put on the sync queue again and finishes without duplicates', async () => {
    const binding = await seeded(250);
    const run = await start(binding);
    expect(await workOnRun(messageOf(run), env.opts({ maxPages: 1 }))).toBe('continued');
    await syncMessages(); // to the DLQ: nothing will work on it
    const leaseEnd = await entryTime(run);
    // The binding is busy for good until then.
    await expect(start(binding)).rejects.toMatchObject({ status: 409 });

    // Not yet past the margin: left alone.
    expect(await sweep(leaseEnd + STALL_MARGIN_MS - 60_000)).toMatchObject({ recovered: 0 });
    expect(await syncMessages(run)).toEqual([]);

    const at = leaseEnd + STALL_MARGIN_MS + 1000;
    const stats = await sweep(at);
    expect(stats.recovered).toBeGreaterThanOrEqual(1);
    expect(await syncMessages(run)).toEqual([run.id]);
    const recovered = await active(run);
    expect(recovered.recoveries).toBe(1);
    expect(recovered.gsi1sk).toBe(`${new Date(at).toISOString()}#${run.id}`);
    // A second scheduler pass at the same time does not recover it twice.
    expect(await sweep(at)).toMatchObject({ recovered: 0 });
    expect(await syncMessages(run)).toEqual([]);

    expect(await workOnRun(messageOf(run), env.opts())).toBe('finished');
    const done = await env.run(run);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.inbound).toMatchObject({ added: 250, updated: 0, failed: 0 });
    expect(new Set((await env.records()).map((r) => r.external.id)).size).toBe(250);
    expect((await env.binding(binding)).active_run_id).toBeUndefined();
  });

  it(`after ${MAX_RUN_RECOVERIES} recoveries a run that keeps dying ends FAILED stalled (sync.failed), its binding free`, async () => {
    const binding = await seeded(5);
    const run = await start(binding);
    await syncMessages();
    await env.events();
    let at = Date.parse(run.queued_at);
    for (let i = 1; i <= MAX_RUN_RECOVERIES; i++) {
      at += STALL_MARGIN_MS + 1000;
      await sweep(at);
      expect(await syncMessages(run)).toEqual([run.id]); // and it dies again
      expect((await active(run)).recoveries).toBe(i);
    }
    at += STALL_MARGIN_MS + 1000;
    const last = await sweep(at);
    expect(last.stalled).toBeGreaterThanOrEqual(1);
    expect(await syncMessages(run)).toEqual([run.id]);
    expect((await active(run)).stalled).toBe(true);
    // Its next claim ends it before any work.
    expect(await workOnRun(messageOf(run), env.opts())).toBe('skipped');
    const failed = await env.run(run);
    expect(failed).toMatchObject({ status: 'FAILED', error: { code: 'stalled' } });
    expect(env.gh.calls).toEqual([]);
    const b = await env.binding(binding);
    expect(b.active_run_id).toBeUndefined();
    expect(b.last_run?.status).toBe('FAILED');
    expect((await env.events()).filter((e) => e.type === 'sync.failed').map((e) => e.data.run_id)).toEqual([
      run.id,
    ]);
    expect(await indexEntry(run)).toBeUndefined();
    // The binding runs again.
    const next = await start(binding);
    await cancelRun(await env.binding(binding), next.id);
  });

  it('a run waiting out a long rate limit is not recovered: its entry moves to its resume time', async () => {
    const binding = await seeded(5);
    const run = await start(binding);
    await syncMessages();
    const resumeAt = Date.parse(run.queued_at) + 3 * 3600_000;
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: { pk: run.pk, sk: run.sk },
        UpdateExpression: 'SET resume_at = :at',
        ExpressionAttributeValues: { ':at': resumeAt },
      }),
    );
    await sweep(Date.parse(run.queued_at) + STALL_MARGIN_MS + 1000);
    expect(await syncMessages(run)).toEqual([]);
    const waiting = await active(run);
    expect(waiting.recoveries).toBe(0);
    expect(waiting.gsi1sk).toBe(`${new Date(resumeAt).toISOString()}#${run.id}`);
    await cancelRun(await env.binding(binding), run.id);
    expect(await indexEntry(run)).toBeUndefined();
  });
});

describe('the follow-up run a finished run starts', () => {
  it('when it cannot be started: logged with the run and binding, rerun_requested kept for the next event', async () => {
    const binding = await seeded(3);
    const run = await start(binding);
    await syncMessages();
    await requestRunForChanges(await env.binding(binding));
    expect((await env.binding(binding)).rerun_requested).toBe(true);
    const warn = vi.spyOn(logger, 'warn');
    const client = sqs();
    const real = client.send.bind(client) as (c: unknown) => Promise<unknown>;
    const send = vi.spyOn(client as unknown as { send: (c: unknown) => Promise<unknown> }, 'send');
    send.mockImplementation(async (c: unknown) => {
      if (c instanceof SendMessageCommand && c.input.QueueUrl === env.queues.sync)
        throw new Error('sqs down');
      return real(c);
    });
    const finished = await finishRun(await env.run(run), { status: 'SUCCEEDED' });
    expect(finished?.status).toBe('SUCCEEDED');
    expect(warn).toHaveBeenCalledWith(
      'follow-up sync run not started',
      expect.objectContaining({ run_id: run.id, binding_id: binding.id, error: 'sqs down' }),
    );
    const b = await env.binding(binding);
    expect(b.active_run_id).toBeUndefined();
    expect(b.rerun_requested).toBe(true);
    send.mockRestore();
    // The next PronaFlow change (or schedule) starts it.
    await requestRunForChanges(b);
    const started = await env.binding(binding);
    expect(started.active_run_id).toBeDefined();
    expect(started.rerun_requested).toBeUndefined();
    expect(await syncMessages()).toEqual([started.active_run_id]);
  });
});
