import { describe, expect, it } from 'vitest';
import { bindingsConsumers } from '#shared/bindings/consumer.ts';
import { workOnRun } from '#shared/bindings/engine.ts';
import { pronaflowIdFor } from '#shared/bindings/records.ts';
import { startRun } from '#shared/bindings/runs.ts';
import { type BindingItem, linkOfRecordIn, pendingPage } from '#shared/bindings/store.ts';
import type { PronaFlowEvent } from '#shared/events/envelope.ts';
import { ingestMessage } from '#shared/events/ingest.ts';
import { newId } from '#shared/ids.ts';
import { messageOf, useBindingsEnv } from '#test/helpers/bindings.ts';

// PronaFlow changes written out: task events → pending changes → a run → the fake GitHub, and the
// rules that keep the two sides from ping-ponging (echoes) or overwriting each other (conflicts).

const env = useBindingsEnv();

let projects = 0;
/** A BIDIRECTIONAL binding of its own project (task.created finds bindings by project). */
const bidirectional = (over: Partial<BindingItem> = {}) =>
  env.makeBinding({ direction: 'BIDIRECTIONAL', project_id: `prj_out${++projects}`, ...over });

const repoOf = (b: BindingItem) => b.resource.repo as string;

/** Hands a PronaFlow event to the service's consumers, as the ingest worker does. */
async function emit(type: string, data: Record<string, unknown>): Promise<PronaFlowEvent> {
  const event: PronaFlowEvent = {
    id: newId('evt'),
    type,
    workspace_id: 'ws1',
    occurred_at: new Date(env.clock.now()).toISOString(),
    data,
  };
  const out = await ingestMessage(event.id, JSON.stringify(event), bindingsConsumers);
  expect(out.outcome).toBe('dispatched');
  return event;
}

/** Works on the binding's active run (started by events) to its end, or starts one. */
async function sync(binding: BindingItem) {
  let current = await env.binding(binding);
  const runId = current.active_run_id ?? (await startRun(current, { trigger: 'manual' })).id;
  const msg = messageOf({ connection_id: current.connection_id, binding_id: current.id, id: runId });
  for (let i = 0; i < 10; i++) {
    if ((await workOnRun(msg, env.opts())) === 'finished') break;
  }
  current = await env.binding(binding);
  return env.run({ connection_id: current.connection_id, binding_id: current.id, id: runId });
}

const patches = (repo: string) =>
  env.gh.calls.filter((c) => c.method === 'PATCH' && c.path.startsWith(`/repos/acme/${repo}/issues/`));

describe('outbound writes', () => {
  it('task.created → an issue with the mapped fields and a link; updated → PATCH; deleted → closed', async () => {
    const binding = await bidirectional();
    const repo = repoOf(binding);
    env.gh.repo('acme', repo);
    await emit('task.created', {
      // The shape of the webhook catalog's example: the task's fields beside its ids.
      task_id: 'task_out1',
      project_id: binding.project_id,
      title: 'Write the docs',
      description: 'All of them',
      status: 'todo',
      labels: ['docs'],
      created_by: 'u1',
    });
    const pending = await pendingPage(binding, 10);
    expect(pending).toMatchObject([{ pronaflow_id: 'task_out1', op: 'create' }]);
    const b = await env.binding(binding);
    expect(b.active_run_id).toBeDefined();
    const created = await sync(binding);
    expect(created.trigger).toBe('events');
    expect(created.status).toBe('SUCCEEDED');
    expect(created.outbound).toMatchObject({ added: 1, failed: 0 });
    const posts = env.gh.calls.filter((c) => c.method === 'POST');
    expect(posts).toHaveLength(1);
    // The body carries the creation's marker (an HTML comment GitHub does not render).
    expect(JSON.parse(posts[0]?.body ?? '{}')).toEqual({
      title: 'Write the docs',
      body: 'All of them\n\n<!-- pronaflow:task_out1 -->',
      labels: ['docs'],
    });
    const issue = env.gh.issue('acme', repo, 1);
    expect(issue).toMatchObject({ title: 'Write the docs', state: 'open' });
    const link = await linkOfRecordIn(binding, 'task_out1');
    expect(link).toMatchObject({ external_id: '1', pronaflow_id: 'task_out1' });
    expect(await pendingPage(binding, 10)).toEqual([]);
    expect(await env.records()).toEqual([]);

    // The issue the sync created comes back inbound: skipped (its own echo), no record.
    const echo = await sync(binding);
    expect(echo.inbound).toMatchObject({ added: 0, updated: 0, skipped: 1 });
    expect(await env.records()).toEqual([]);

    await emit('task.updated', {
      task_id: 'task_out1',
      changes: { title: { from: 'Write the docs', to: 'Write better docs' }, status: { to: 'done' } },
    });
    const updated = await sync(binding);
    expect(updated.outbound).toMatchObject({ updated: 1, failed: 0 });
    expect(patches(repo).map((c) => JSON.parse(c.body))).toEqual([
      { title: 'Write better docs', state: 'closed' },
    ]);
    expect(env.gh.issue('acme', repo, 1)).toMatchObject({ title: 'Write better docs', state: 'closed' });
    const afterUpdate = await sync(binding);
    expect(afterUpdate.inbound).toMatchObject({ added: 0, updated: 0 });
    expect(await env.records()).toEqual([]);

    await emit('task.deleted', { task_id: 'task_out1' });
    env.gh.calls.length = 0;
    const deleted = await sync(binding);
    expect(deleted.outbound).toMatchObject({ deleted: 1, failed: 0 });
    expect(patches(repo).map((c) => JSON.parse(c.body))).toEqual([
      { state: 'closed', state_reason: 'not_planned' },
    ]);
    expect(env.gh.issue('acme', repo, 1)?.state_reason).toBe('not_planned');
    expect((await linkOfRecordIn(binding, 'task_out1'))?.deleted).toBe(true);
    // The issue GitHub keeps (closed) is not brought back into PronaFlow as a new task.
    const afterDelete = await sync(binding);
    expect(afterDelete.inbound.added).toBe(0);
    expect(await env.records()).toEqual([]);
  });

  it('a PronaFlow event carrying the values the sync delivered inbound is not written back', async () => {
    const binding = await bidirectional();
    const repo = repoOf(binding);
    env.gh.seed({ owner: 'acme', repo, issues: 2 });
    await sync(binding);
    await env.records();
    env.gh.editIssue('acme', repo, 1, { title: 'Changed on GitHub' });
    const inbound = await sync(binding);
    expect(inbound.inbound.updated).toBe(1);
    const [record] = (await env.records()).filter((r) => r.op === 'upsert' && r.external.id === '1');
    expect(record?.values.title).toBe('Changed on GitHub');
    env.gh.calls.length = 0;
    // Core applied it and raises task.updated (without origin here: the engine still knows its echo).
    await emit('task.updated', {
      task_id: record?.pronaflow_id,
      changes: { title: { from: 'Issue 1', to: 'Changed on GitHub' } },
    });
    const run = await sync(binding);
    expect(run.outbound).toMatchObject({ skipped: 1, updated: 0 });
    expect(patches(repo)).toEqual([]);
    // Core's task.created of a record the sync brought in carries the whole task, fields the
    // binding does not map among them: still its own echo.
    await emit('task.created', {
      task_id: pronaflowIdFor('task', binding.id, '2'),
      project_id: binding.project_id,
      task: {
        title: 'Issue 2',
        description: null,
        status: 'todo',
        labels: [],
        assignee: null,
        due_date: null,
        external_url: `https://github.com/acme/${repo}/issues/2`,
      },
    });
    const created = await sync(binding);
    expect(created.outbound).toMatchObject({ skipped: 1, updated: 0, added: 0 });
    expect(patches(repo)).toEqual([]);
    // With origin.binding_id the consumer drops it already: no pending, no run.
    await emit('task.updated', {
      task_id: record?.pronaflow_id,
      changes: { title: { to: 'Changed on GitHub' } },
      origin: { binding_id: binding.id },
    });
    expect(await pendingPage(binding, 10)).toEqual([]);
    expect((await env.binding(binding)).active_run_id).toBeUndefined();
  });
});

describe('an OUTBOUND binding', () => {
  it('writes 30 pending changes over several invocations, and never lists the provider', async () => {
    const binding = await env.makeBinding({ direction: 'OUTBOUND', project_id: `prj_out${++projects}` });
    const repo = repoOf(binding);
    env.gh.repo('acme', repo);
    for (let i = 1; i <= 30; i++) {
      await emit('task.created', {
        task_id: `task_many${i}`,
        project_id: binding.project_id,
        task: { title: `Task ${i}`, status: 'todo' },
      });
    }
    const b = await env.binding(binding);
    expect(b.rerun_requested).toBe(true);
    const msg = messageOf({
      connection_id: b.connection_id,
      binding_id: b.id,
      id: b.active_run_id as string,
    });
    expect(await workOnRun(msg, env.opts({ maxPages: 1 }))).toBe('continued');
    const runKey = { connection_id: b.connection_id, binding_id: b.id, id: msg.run_id };
    expect((await env.run(runKey)).outbound.added).toBe(25);
    expect(await workOnRun(msg, env.opts({ maxPages: 1 }))).toBe('finished');
    const run = await env.run({ connection_id: b.connection_id, binding_id: b.id, id: msg.run_id });
    expect(run.status).toBe('SUCCEEDED');
    expect(run.outbound).toMatchObject({ added: 30, failed: 0 });
    expect(run.inbound).toEqual({ added: 0, updated: 0, deleted: 0, skipped: 0, failed: 0 });
    expect(run.pages_fetched).toBe(0);
    expect(env.gh.calls.filter((c) => c.method === 'GET')).toEqual([]);
    expect(env.gh.calls.filter((c) => c.method === 'POST')).toHaveLength(30);
    expect(await env.records()).toEqual([]);
    expect(await pendingPage(binding, 50)).toEqual([]);
    // Events came while it was active: its end started the next run.
    const after = await env.binding(binding);
    expect(after.rerun_requested).toBeUndefined();
    expect(after.active_run_id).toBeDefined();
    expect(after.active_run_id).not.toBe(run.id);
    const rerun = await env.run({
      connection_id: b.connection_id,
      binding_id: b.id,
      id: after.active_run_id as string,
    });
    expect(rerun).toMatchObject({ status: 'QUEUED', trigger: 'events' });
  });
});

describe('conflicts', () => {
  async function conflicted(policy: BindingItem['conflict_policy']) {
    const binding = await bidirectional({ conflict_policy: policy });
    const repo = repoOf(binding);
    env.gh.seed({ owner: 'acme', repo, issues: 1, start: new Date(env.clock.now() - 60_000) });
    await sync(binding);
    const [record] = await env.records();
    env.gh.editIssue('acme', repo, 1, { title: 'GitHub title' });
    await emit('task.updated', {
      task_id: record?.pronaflow_id,
      changes: { title: { from: 'Issue 1', to: 'PronaFlow title' } },
    });
    env.gh.calls.length = 0;
    const run = await sync(binding);
    return { binding, repo, run, records: await env.records() };
  }

  it('provider_wins keeps GitHub’s version and drops the PronaFlow change', async () => {
    const { binding, repo, run, records } = await conflicted('provider_wins');
    expect(run.inbound.updated).toBe(1);
    expect(run.outbound).toMatchObject({ updated: 0, added: 0 });
    expect(records.map((r) => r.values.title)).toEqual(['GitHub title']);
    expect(patches(repo)).toEqual([]);
    expect(env.gh.issue('acme', repo, 1)?.title).toBe('GitHub title');
    expect(await pendingPage(binding, 10)).toEqual([]);
  });

  it('pronaflow_wins writes PronaFlow’s version to GitHub and sends no record', async () => {
    const { binding, repo, run, records } = await conflicted('pronaflow_wins');
    expect(run.inbound).toMatchObject({ updated: 0, skipped: 1 });
    expect(run.outbound.updated).toBe(1);
    expect(records).toEqual([]);
    expect(patches(repo).map((c) => JSON.parse(c.body))).toEqual([{ title: 'PronaFlow title' }]);
    expect(env.gh.issue('acme', repo, 1)?.title).toBe('PronaFlow title');
    expect(await pendingPage(binding, 10)).toEqual([]);
    // The next run sees its own write: nothing goes either way.
    const next = await sync(binding);
    expect(next.inbound).toMatchObject({ updated: 0, added: 0 });
    expect(next.outbound.updated).toBe(0);
    expect(await env.records()).toEqual([]);
  });
});
