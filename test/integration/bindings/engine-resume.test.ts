import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSRecord } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { handler as syncRuns } from '#functions/bindings/sync-runs.ts';
import { workOnRun } from '#shared/bindings/engine.ts';
import type { RecordMessage } from '#shared/bindings/records.ts';
import { cancelRun, startRun } from '#shared/bindings/runs.ts';
import type { BindingItem } from '#shared/bindings/store.ts';
import { runSyncMessage } from '#shared/bindings/worker.ts';
import { db } from '#shared/db/client.ts';
import { ConflictError } from '#shared/errors.ts';
import { sqs } from '#shared/queues.ts';
import { messageOf, useBindingsEnv } from '#test/helpers/bindings.ts';
import { setEnv } from '#test/helpers/env.ts';
import { drainQueue } from '#test/helpers/queue-worker.ts';

// Runs that take several invocations: page budgets through the real sync worker, invocations
// that die mid-page and are resumed, concurrent starts and invocations, cancels between pages.

const env = useBindingsEnv();

afterEach(() => {
  vi.restoreAllMocks();
  setEnv({ SYNC_MAX_PAGES_PER_INVOCATION: undefined, SYNC_INVOCATION_SECONDS: undefined });
});

const seeded = async (issues: number) => {
  const binding = await env.makeBinding();
  env.gh.seed({ owner: 'acme', repo: binding.resource.repo as string, issues });
  return binding;
};

const start = async (b: BindingItem, full = false) =>
  startRun(await env.binding(b), { trigger: 'manual', full });

/** Every record version sent, by idempotency key: each key must name one version. */
function byKey(records: RecordMessage[]) {
  const keys = new Map<string, RecordMessage>();
  for (const r of records) {
    const seen = keys.get(r.idempotency_key);
    if (seen) {
      expect({ ...r, occurred_at: '' }).toEqual({ ...seen, occurred_at: '' });
    } else keys.set(r.idempotency_key, r);
  }
  return keys;
}

type Send = (command: unknown) => Promise<unknown>;

/** Makes the client's `send` throw for the commands `fail` picks (it sees each command once). */
function failSends(client: { send: unknown }, fail: (command: unknown) => boolean) {
  const real = (client.send as Send).bind(client);
  return vi.spyOn(client as { send: Send }, 'send').mockImplementation(async (command: unknown) => {
    if (fail(command)) throw new Error('injected failure');
    return real(command);
  });
}

describe('a run over several invocations', () => {
  it('one page per invocation through the sync worker: the same totals as one invocation', async () => {
    const one = await seeded(250);
    const single = await start(one);
    await workOnRun(messageOf(single), env.opts());
    const whole = await env.run(single);
    await env.purge();

    setEnv({ SYNC_MAX_PAGES_PER_INVOCATION: '1' });
    const split = await seeded(250);
    const run = await start(split);
    const processed = await drainQueue(env.queues.sync, syncRuns, { name: 'sync', batchSize: 1 });
    const after = await env.run(run);
    expect(processed).toBe(3);
    expect(after.status).toBe('SUCCEEDED');
    expect(after.invocations).toBe(3);
    expect(after.inbound).toEqual(whole.inbound);
    expect(after.pages_fetched).toBe(whole.pages_fetched);
    expect(after.provider_calls).toBe(whole.provider_calls);
    expect(after.checkpoint_to).not.toBeNull();
    const records = await env.records();
    expect(records).toHaveLength(250);
    expect(byKey(records).size).toBe(250);
    expect((await env.binding(split)).checkpoint).toBe(after.checkpoint_to);
  });

  // GitHub's offset pages over `sort=updated&direction=asc` shift when an issue is edited between
  // pages (it moves to the end and the issue after the boundary slides onto a page already read,
  // below the checkpoint for good): the adapter pages by keyset (`since` the last record's second).
  it('an issue edited between pages does not make the run miss another one', async () => {
    const binding = await seeded(250);
    const run = await start(binding);
    expect(await workOnRun(messageOf(run), env.opts({ maxPages: 1 }))).toBe('continued');
    env.clock.advance(5000);
    env.gh.editIssue('acme', binding.resource.repo as string, 50, { title: 'Edited meanwhile' });
    for (let i = 0; i < 5; i++)
      if ((await workOnRun(messageOf(run), env.opts({ maxPages: 1 }))) === 'finished') break;
    const ids = new Set((await env.records()).map((r) => r.external.id));
    expect(ids.size).toBe(250);
  });

  it('an invocation budget shorter than the page margin still makes progress (a page per share)', async () => {
    setEnv({ SYNC_INVOCATION_SECONDS: '5' });
    const binding = await seeded(150);
    const run = await start(binding);
    await drainQueue(env.queues.sync, syncRuns, { name: 'sync', batchSize: 1, max: 10 });
    const after = await env.run(run);
    expect(after.status).toBe('SUCCEEDED');
    expect(after.inbound.added).toBe(150);
    setEnv({ SYNC_INVOCATION_SECONDS: undefined });
  });

  it('two invocations of one run at once: one works, the other is skipped by the lease', async () => {
    const binding = await seeded(120);
    const run = await start(binding);
    const results = await Promise.all([
      workOnRun(messageOf(run), env.opts()),
      workOnRun(messageOf(run), env.opts()),
    ]);
    expect(results.sort()).toEqual(['finished', 'skipped']);
    const after = await env.run(run);
    expect(after.status).toBe('SUCCEEDED');
    expect(after.inbound.added).toBe(120);
    expect(await env.records()).toHaveLength(120);
  });
});

describe('the sync worker', () => {
  it('our side failing on the last receive before the DLQ: the run ends FAILED internal_error', async () => {
    const binding = await seeded(5);
    const run = await start(binding);
    failSends(sqs(), (c) => c instanceof SendMessageBatchCommand && c.input.QueueUrl === env.queues.records);
    const record = (receives: number) =>
      ({
        messageId: `m${receives}`,
        body: JSON.stringify(messageOf(run)),
        attributes: { ApproximateReceiveCount: String(receives) },
      }) as unknown as SQSRecord;
    await expect(runSyncMessage(record(1))).rejects.toThrow('injected failure');
    expect((await env.run(run)).status).toBe('RUNNING');
    expect(await runSyncMessage(record(5))).toBe('finished');
    const after = await env.run(run);
    expect(after.status).toBe('FAILED');
    expect(after.error?.code).toBe('internal_error');
    const b = await env.binding(binding);
    expect(b.active_run_id).toBeUndefined();
    expect(b.last_run?.status).toBe('FAILED');
    // A message that is not a run is dropped, not retried.
    expect(await runSyncMessage({ messageId: 'x', body: '{"kind":"other"}' } as SQSRecord)).toBeUndefined();
  });
});

describe('an invocation that dies mid-page', () => {
  it('records not all sent: the resumed page counts once, re-sends the same records and ids', async () => {
    const binding = await seeded(150);
    const run = await start(binding);
    let batches = 0;
    failSends(
      sqs(),
      (c) =>
        c instanceof SendMessageBatchCommand && c.input.QueueUrl === env.queues.records && ++batches === 2,
    );
    await expect(workOnRun(messageOf(run), env.opts())).rejects.toThrow('injected failure');
    const crashed = await env.run(run);
    expect(crashed.status).toBe('RUNNING');
    expect(crashed.page_seq).toBe(0);
    expect(crashed.inbound.added).toBe(0);
    vi.restoreAllMocks();
    const sentBefore = await env.records();

    expect(await workOnRun(messageOf(run), env.opts())).toBe('finished');
    const after = await env.run(run);
    expect(after.status).toBe('SUCCEEDED');
    expect(after.inbound).toMatchObject({ added: 150, updated: 0, skipped: 0, failed: 0 });
    expect(after.invocations).toBe(2);
    // Some of page 1's records went out before the failure (the batches go side by side), all of
    // them again on resume.
    expect(sentBefore.length).toBeGreaterThan(0);
    expect(sentBefore.length).toBeLessThan(100);
    const records = [...sentBefore, ...(await env.records())];
    expect(records.length).toBe(sentBefore.length + 150);
    const keys = byKey(records);
    expect(keys.size).toBe(150);
    expect([...keys.values()].every((r) => r.created)).toBe(true);
  });

  it('progress not saved and the lease not handed back: resumed after the lease, nothing counted twice', async () => {
    const binding = await seeded(250);
    const run = await start(binding);
    let saves = 0;
    // The second page's progress write fails, and so does the lease's release (the process died).
    failSends(db(), (c) => {
      if (!(c instanceof UpdateCommand)) return false;
      const expr = c.input.ConditionExpression ?? '';
      if (expr.includes('cancel_requested = :no')) return ++saves === 2;
      return expr === 'lease_owner = :owner';
    });
    await expect(workOnRun(messageOf(run), env.opts())).rejects.toThrow('injected failure');
    const crashed = await env.run(run);
    expect(crashed.page_seq).toBe(1);
    expect(crashed.inbound.added).toBe(100);
    vi.restoreAllMocks();

    // Another invocation while the lease holds: skipped.
    expect(await workOnRun(messageOf(run), env.opts())).toBe('skipped');
    const later = () => Date.now() + 10 * 60_000;
    expect(await workOnRun(messageOf(run), env.opts({ now: later, deadline: later() + 120_000 }))).toBe(
      'finished',
    );
    const after = await env.run(run);
    expect(after.status).toBe('SUCCEEDED');
    expect(after.inbound).toMatchObject({ added: 250, updated: 0, skipped: 0, failed: 0 });
    expect(after.pages_fetched).toBe(3);
    const records = await env.records();
    // Page 2 twice (99 records: the keyset page's first place is page 1's last record, dropped).
    expect(records).toHaveLength(349);
    expect(byKey(records).size).toBe(250);
  });
});

describe('concurrent sync requests', () => {
  it('10 startRun at once: exactly one run, the others ConflictError with its run_id', async () => {
    const binding = await env.makeBinding();
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => startRun(binding, { trigger: 'manual' })),
    );
    const started = results.filter((r) => r.status === 'fulfilled');
    expect(started).toHaveLength(1);
    const runId = (started[0] as PromiseFulfilledResult<{ id: string }>).value.id;
    for (const r of results.filter((x) => x.status === 'rejected')) {
      const err = (r as PromiseRejectedResult).reason;
      expect(err).toBeInstanceOf(ConflictError);
      expect(err.extra.run_id).toBe(runId);
    }
    expect((await env.binding(binding)).active_run_id).toBe(runId);
    expect(await env.receiveAll(env.queues.sync)).toEqual([
      messageOf({ ...binding, binding_id: binding.id, connection_id: binding.connection_id, id: runId }),
    ]);
  });
});

describe('cancel', () => {
  it('a RUNNING run cancelled between invocations ends CANCELLED with its counts', async () => {
    const binding = await seeded(250);
    const run = await start(binding);
    expect(await workOnRun(messageOf(run), env.opts({ maxPages: 1 }))).toBe('continued');
    // No invocation holds it (its lease was handed back): CANCELLED at once, its message skipped.
    const cancelled = await cancelRun(await env.binding(binding), run.id);
    expect(cancelled.status).toBe('CANCELLED');
    expect(await workOnRun(messageOf(run), env.opts())).toBe('skipped');
    const after = await env.run(run);
    expect(after.status).toBe('CANCELLED');
    expect(after.inbound.added).toBe(100);
    expect(after.pages_fetched).toBe(1);
    const b = await env.binding(binding);
    expect(b.active_run_id).toBeUndefined();
    expect(b.checkpoint).toBeNull();
    expect(b.last_run?.status).toBe('CANCELLED');
  });

  it('a cancel arriving during a page stops the run after that page, its counts kept', async () => {
    const binding = await seeded(250);
    const run = await start(binding);
    let batches = 0;
    const client = sqs();
    const real = (client.send as Send).bind(client);
    vi.spyOn(client as unknown as { send: Send }, 'send').mockImplementation(async (c: unknown) => {
      // While page 2's records are being sent, someone cancels.
      if (c instanceof SendMessageBatchCommand && c.input.QueueUrl === env.queues.records && ++batches === 11)
        await cancelRun(await env.binding(binding), run.id);
      return real(c);
    });
    expect(await workOnRun(messageOf(run), env.opts())).toBe('finished');
    const after = await env.run(run);
    expect(after.status).toBe('CANCELLED');
    // 100 + 99: the keyset page 2 starts at page 1's last record (dropped).
    expect(after.inbound.added).toBe(199);
    expect(after.pages_fetched).toBe(2);
    expect(await env.records()).toHaveLength(199);
    expect((await env.binding(binding)).checkpoint).toBeNull();
  });

  it('a QUEUED run is cancelled at once; its message is then skipped', async () => {
    const binding = await seeded(5);
    const run = await start(binding);
    expect((await cancelRun(await env.binding(binding), run.id)).status).toBe('CANCELLED');
    expect(await workOnRun(messageOf(run), env.opts())).toBe('skipped');
    expect(env.gh.calls).toEqual([]);
  });
});
