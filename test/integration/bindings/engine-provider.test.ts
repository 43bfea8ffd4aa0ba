import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { workOnRun } from '#shared/bindings/engine.ts';
import { cancelRun, startRun } from '#shared/bindings/runs.ts';
import type { BindingItem } from '#shared/bindings/store.ts';
import { db, tableName } from '#shared/db/client.ts';
import { openAccessToken } from '#shared/oauth/connections.ts';
import { reload } from '#shared/oauth/connections-repo.ts';
import { sqs } from '#shared/queues.ts';
import { messageOf, useBindingsEnv } from '#test/helpers/bindings.ts';

// The provider's answers that are not records: GitHub's rate limits (waited out inline on the
// test's clock, or the run rescheduled on a delayed message and resumed), and a token refused
// mid-run (refreshed once at the fake OAuth provider, or the connection rejected).

const env = useBindingsEnv();

afterEach(() => {
  vi.restoreAllMocks();
});

const seeded = async (issues: number) => {
  const binding = await env.makeBinding();
  env.gh.seed({ owner: 'acme', repo: binding.resource.repo as string, issues });
  return binding;
};
const start = async (b: BindingItem) => startRun(await env.binding(b), { trigger: 'manual' });
const currentToken = async () => openAccessToken((await reload(env.github))!);
const nowSeconds = () => Math.floor(env.clock.now() / 1000);

/** Calls `act` once, when the engine sends the first batch of records of the run. */
function onFirstRecords(act: () => void | Promise<void>) {
  const client = sqs();
  const real = (client.send as (c: unknown) => Promise<unknown>).bind(client);
  let done = false;
  vi.spyOn(client as unknown as { send: (c: unknown) => Promise<unknown> }, 'send').mockImplementation(
    async (c: unknown) => {
      if (!done && c instanceof SendMessageBatchCommand && c.input.QueueUrl === env.queues.records) {
        done = true;
        await act();
      }
      return real(c);
    },
  );
}

describe('rate limits', () => {
  it('primary limit, reset soon: waited out inline, the run finishes in one invocation', async () => {
    const binding = await seeded(250);
    const run = await start(binding);
    const token = await currentToken();
    // Page 1 goes through; the quota is then used up until 2 s from now.
    onFirstRecords(() => env.gh.setQuota(token, { remaining: 0, reset: nowSeconds() + 2 }));
    const before = env.clock.offset;
    expect(await workOnRun(messageOf(run), env.opts())).toBe('finished');
    const after = await env.run(run);
    expect(after.status).toBe('SUCCEEDED');
    expect(after.inbound.added).toBe(250);
    expect(after.invocations).toBe(1);
    expect(after.rate_limit_waits).toBe(1);
    expect(after.rate_limit_wait_ms).toBeGreaterThanOrEqual(1000);
    expect(after.rate_limit_wait_ms).toBeLessThanOrEqual(4000);
    expect(env.clock.offset - before).toBe(after.rate_limit_wait_ms);
    expect(env.gh.calls.filter((c) => c.status === 403)).toHaveLength(1);
    expect(after.provider_calls).toBe(4);
  });

  it('primary limit, reset in an hour: rescheduled on a delayed message, then resumed to the end', async () => {
    const binding = await seeded(250);
    const run = await start(binding);
    await env.receiveAll(env.queues.sync);
    const token = await currentToken();
    const reset = nowSeconds() + 3600;
    onFirstRecords(() => env.gh.setQuota(token, { remaining: 0, reset }));
    expect(await workOnRun(messageOf(run), env.opts())).toBe('rescheduled');
    const waiting = await env.run(run);
    expect(waiting.status).toBe('RUNNING');
    expect(waiting.resume_at).toBeGreaterThanOrEqual(reset * 1000);
    expect((waiting as { lease_owner?: string }).lease_owner).toBeUndefined();
    // Page 1 is done and counted; the page cut by the limit is not.
    expect(waiting.page_seq).toBe(1);
    expect(waiting.inbound.added).toBe(100);
    expect(waiting.pages_fetched).toBe(1);
    expect(waiting.rate_limit_waits).toBe(1);
    expect(await env.delayedCount(env.queues.sync)).toBe(1);

    // The delayed message comes back early (SQS delays at most 15 minutes): sent on again.
    expect(await workOnRun(messageOf(run), env.opts())).toBe('rescheduled');
    expect(env.gh.calls.filter((c) => c.status === 403)).toHaveLength(1);

    env.clock.advance(3600_000 + 2000);
    expect(await workOnRun(messageOf(run), env.opts())).toBe('finished');
    const after = await env.run(run);
    expect(after.status).toBe('SUCCEEDED');
    expect(after.inbound).toMatchObject({ added: 250, updated: 0, failed: 0 });
    expect(after.pages_fetched).toBe(3);
    expect(after.rate_limit_waits).toBe(1);
    expect(after.resume_at).toBeNull();
    // The early message did not claim the run: two invocations worked on it.
    expect(after.invocations).toBe(2);
    const records = await env.records();
    expect(new Set(records.map((r) => r.idempotency_key)).size).toBe(250);
  });

  it('a run waiting for a rate limit is cancelled at once, not when the wait is over', async () => {
    const binding = await seeded(50);
    const run = await start(binding);
    env.gh.inject({ kind: 'secondary' });
    expect(await workOnRun(messageOf(run), env.opts())).toBe('rescheduled');
    // No invocation holds it while it waits: CANCELLED by the cancel itself, its message skipped.
    expect((await cancelRun(await env.binding(binding), run.id)).status).toBe('CANCELLED');
    expect(await workOnRun(messageOf(run), env.opts())).toBe('skipped');
    expect((await env.run(run)).status).toBe('CANCELLED');
    expect((await env.binding(binding)).active_run_id).toBeUndefined();
  });

  it('secondary limit: backs off a minute (rescheduled), then goes on', async () => {
    const binding = await seeded(50);
    const run = await start(binding);
    env.gh.inject({ kind: 'secondary' });
    const at = env.clock.now();
    expect(await workOnRun(messageOf(run), env.opts())).toBe('rescheduled');
    const waiting = await env.run(run);
    expect((waiting.resume_at as number) - at).toBeGreaterThanOrEqual(60_000);
    expect((waiting.resume_at as number) - at).toBeLessThan(70_000);
    expect(waiting.pages_fetched).toBe(0);
    env.clock.advance(61_000);
    expect(await workOnRun(messageOf(run), env.opts())).toBe('finished');
    const after = await env.run(run);
    expect(after.status).toBe('SUCCEEDED');
    expect(after.inbound.added).toBe(50);
    expect(after.rate_limit_waits).toBe(1);
    expect(after.rate_limit_wait_ms).toBe(60_000);
  });

  it('secondary limit with retry-after: waited inline', async () => {
    const binding = await seeded(10);
    const run = await start(binding);
    env.gh.inject({ kind: 'secondary', retryAfter: 3 });
    expect(await workOnRun(messageOf(run), env.opts())).toBe('finished');
    const after = await env.run(run);
    expect(after).toMatchObject({ status: 'SUCCEEDED', rate_limit_waits: 1, rate_limit_wait_ms: 3000 });
    expect(after.inbound.added).toBe(10);
  });
});

describe('a token refused mid-run', () => {
  it('expired after page 1: refreshed once at the OAuth provider, the run goes on and succeeds', async () => {
    const binding = await seeded(250);
    const run = await start(binding);
    const token = await currentToken();
    const refreshes = env.oauth.provider.calls.refresh;
    onFirstRecords(() => env.gh.expireToken(token));
    expect(await workOnRun(messageOf(run), env.opts())).toBe('finished');
    const after = await env.run(run);
    expect(after.status).toBe('SUCCEEDED');
    expect(after.inbound.added).toBe(250);
    expect(env.oauth.provider.calls.refresh).toBe(refreshes + 1);
    expect(env.gh.calls.filter((c) => c.status === 401)).toHaveLength(1);
    const fresh = await currentToken();
    expect(fresh).not.toBe(token);
    expect(env.gh.calls.at(-1)?.headers.authorization).toBe(`Bearer ${fresh}`);
    expect((await env.binding(binding)).status).toBe('ACTIVE');
  });

  it('an expired connection: FAILED connection_expired before any call, binding ERROR', async () => {
    const binding = await seeded(5);
    const run = await start(binding);
    const connection = (await reload(env.github))!;
    await db().send(new PutCommand({ TableName: tableName(), Item: { ...connection, status: 'EXPIRED' } }));
    try {
      expect(await workOnRun(messageOf(run), env.opts())).toBe('finished');
    } finally {
      await db().send(new PutCommand({ TableName: tableName(), Item: connection }));
    }
    const after = await env.run(run);
    expect(after).toMatchObject({ status: 'FAILED', error: { code: 'connection_expired' } });
    expect((await env.binding(binding)).status_reason?.code).toBe('connection_expired');
    expect(env.gh.calls).toEqual([]);
  });

  it('refused again after the refresh: FAILED connection_rejected, binding ERROR, sync.failed', async () => {
    const binding = await seeded(250);
    const run = await start(binding);
    const refreshes = env.oauth.provider.calls.refresh;
    onFirstRecords(() =>
      env.gh.inject({ kind: 'raw', status: 401, body: { message: 'Bad credentials' }, times: 2 }),
    );
    expect(await workOnRun(messageOf(run), env.opts())).toBe('finished');
    const after = await env.run(run);
    expect(after.status).toBe('FAILED');
    expect(after.error?.code).toBe('connection_rejected');
    expect(after.inbound.added).toBe(100);
    expect(env.oauth.provider.calls.refresh).toBe(refreshes + 1);
    const b = await env.binding(binding);
    expect(b.status).toBe('ERROR');
    expect(b.status_reason?.code).toBe('connection_rejected');
    expect(b.active_run_id).toBeUndefined();
    expect(b.checkpoint).toBeNull();
    const failed = (await env.events()).filter((e) => e.type === 'sync.failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.data).toMatchObject({
      run_id: run.id,
      status: 'FAILED',
      error: { code: 'connection_rejected' },
      inbound: { added: 100 },
    });
  });
});
