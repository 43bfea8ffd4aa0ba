import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { githubAdapter } from '#shared/bindings/adapters/github.ts';
import { bindingsConsumers } from '#shared/bindings/consumer.ts';
import { workOnRun } from '#shared/bindings/engine.ts';
import { bindingKeys } from '#shared/bindings/keys.ts';
import { pronaflowIdFor } from '#shared/bindings/records.ts';
import { startRun } from '#shared/bindings/runs.ts';
import { type BindingItem, linkOfRecordIn, pendingPage } from '#shared/bindings/store.ts';
import { db, tableName } from '#shared/db/client.ts';
import type { PronaFlowEvent } from '#shared/events/envelope.ts';
import { ingestMessage } from '#shared/events/ingest.ts';
import { newId } from '#shared/ids.ts';
import { messageOf, uniqueRepo, useBindingsEnv } from '#test/helpers/bindings.ts';

// The review's findings on the sync engine, each pinned by a test: conflicts judged on mapped
// content (not on GitHub's updated_at), outbound creates made once, comments kept in their
// repository, field-level conflicts, fresh pending reads, stale events and reads, record sizes,
// the ETags of a run over several invocations.

const env = useBindingsEnv();

afterEach(() => {
  vi.restoreAllMocks();
});

let projects = 0;
const binding = (over: Partial<BindingItem> = {}) =>
  env.makeBinding({ direction: 'BIDIRECTIONAL', project_id: `prj_rev${++projects}`, ...over });
const repoOf = (b: BindingItem) => b.resource.repo as string;

async function emit(
  type: string,
  data: Record<string, unknown>,
  occurredAt?: string,
): Promise<PronaFlowEvent> {
  const event: PronaFlowEvent = {
    id: newId('evt'),
    type,
    workspace_id: 'ws1',
    occurred_at: occurredAt ?? new Date(env.clock.now()).toISOString(),
    data,
  };
  const out = await ingestMessage(event.id, JSON.stringify(event), bindingsConsumers);
  expect(out.outcome).toBe('dispatched');
  return event;
}

/** Works on the binding's active run (or a new one) to its end; rate-limit waits pass on the test clock. */
async function sync(b: BindingItem, more: Parameters<typeof env.opts>[0] = {}) {
  const current = await env.binding(b);
  const runId = current.active_run_id ?? (await startRun(current, { trigger: 'manual' })).id;
  const msg = messageOf({ connection_id: current.connection_id, binding_id: current.id, id: runId });
  for (let i = 0; i < 20; i++) {
    const out = await workOnRun(msg, env.opts(more));
    if (out === 'finished') break;
    if (out === 'rescheduled') {
      const run = await env.run({ connection_id: current.connection_id, binding_id: current.id, id: runId });
      if (run.resume_at) env.clock.advance(run.resume_at - env.clock.now() + 1000);
    }
  }
  return env.run({ connection_id: current.connection_id, binding_id: current.id, id: runId });
}

const calls = (method: string, repo: string) =>
  env.gh.calls.filter((c) => c.method === method && c.path.startsWith(`/repos/acme/${repo}/`));

describe('1. conflicts are judged on mapped content', () => {
  it('an OUTBOUND binding writes PronaFlow’s change after GitHub only touched the issue', async () => {
    const b = await env.makeBinding({ direction: 'OUTBOUND', project_id: `prj_rev${++projects}` });
    const repo = repoOf(b);
    env.gh.repo('acme', repo);
    await emit('task.created', {
      task_id: 'task_r1',
      project_id: b.project_id,
      title: 'One',
      status: 'todo',
    });
    expect((await sync(b)).outbound.added).toBe(1);
    // A comment (or a label) on GitHub bumps the issue's updated_at, not its mapped content.
    env.clock.advance(5000);
    env.gh.editIssue('acme', repo, 1, { comments: 3 });
    await emit('task.updated', {
      task_id: 'task_r1',
      changes: { title: { from: 'One', to: 'One, renamed' } },
    });
    env.gh.calls.length = 0;
    const run = await sync(b);
    expect(run.outbound).toMatchObject({ updated: 1, skipped: 0 });
    expect(calls('PATCH', repo).map((c) => JSON.parse(c.body))).toEqual([{ title: 'One, renamed' }]);
    // No inbound side to prefer: not even a read of the issue first.
    expect(calls('GET', repo)).toEqual([]);
    expect(env.gh.issue('acme', repo, 1)?.title).toBe('One, renamed');
  });

  it('an OUTBOUND binding writes PronaFlow’s change even over a GitHub edit of the same field', async () => {
    const b = await env.makeBinding({ direction: 'OUTBOUND', project_id: `prj_rev${++projects}` });
    const repo = repoOf(b);
    env.gh.repo('acme', repo);
    await emit('task.created', {
      task_id: 'task_r2',
      project_id: b.project_id,
      title: 'Two',
      status: 'todo',
    });
    await sync(b);
    env.clock.advance(5000);
    env.gh.editIssue('acme', repo, 1, { title: 'Edited on GitHub' });
    await emit('task.updated', { task_id: 'task_r2', changes: { title: { to: 'Two, renamed' } } });
    const run = await sync(b);
    expect(run.outbound.updated).toBe(1);
    expect(env.gh.issue('acme', repo, 1)?.title).toBe('Two, renamed');
  });

  it('a skipped change (the provider won) refreshes the link, and the provider’s version comes in next', async () => {
    const b = await binding();
    const repo = repoOf(b);
    env.gh.seed({ owner: 'acme', repo, issues: 1, start: new Date(env.clock.now() - 60_000) });
    await sync(b);
    const [record] = await env.records();
    await emit('task.updated', {
      task_id: record?.pronaflow_id,
      changes: { title: { to: 'PronaFlow title' } },
    });
    const current = await env.binding(b);
    const msg = messageOf({
      connection_id: current.connection_id,
      binding_id: current.id,
      id: current.active_run_id as string,
    });
    // The inbound page first (nothing changed on GitHub yet), then GitHub changes the title
    // before the outbound phase writes PronaFlow's.
    expect(await workOnRun(msg, env.opts({ maxPages: 1 }))).toBe('continued');
    env.clock.advance(5000);
    const edited = env.gh.editIssue('acme', repo, 1, { title: 'GitHub title' });
    expect(await workOnRun(msg, env.opts())).toBe('finished');
    const run = await env.run({ connection_id: b.connection_id, binding_id: b.id, id: msg.run_id });
    expect(run.outbound).toMatchObject({ updated: 0, skipped: 1 });
    expect(calls('PATCH', repo)).toEqual([]);
    const link = await linkOfRecordIn(b, record?.pronaflow_id as string);
    expect(link?.external_updated_at).toBe(edited.updated_at);
    // The next run brings GitHub's title in (the version the outbound phase preferred).
    await env.records();
    const next = await sync(b);
    expect(next.inbound.updated).toBe(1);
    expect((await env.records()).map((r) => r.values.title)).toEqual(['GitHub title']);
  });
});

describe('2. outbound creates are made once', () => {
  it('a rate limit on closing the new issue: one issue, linked, closed on resume', async () => {
    const b = await binding();
    const repo = repoOf(b);
    env.gh.repo('acme', repo);
    await emit('task.created', {
      task_id: 'task_c1',
      project_id: b.project_id,
      title: 'Done already',
      description: 'Body text',
      status: 'done',
    });
    // The create is one POST; the close is a separate PATCH, rate-limited beyond the invocation.
    env.gh.inject({ kind: 'too_many', retryAfter: 600 }, (m) => m === 'PATCH');
    env.gh.calls.length = 0;
    const run = await sync(b);
    expect(run.status).toBe('SUCCEEDED');
    expect(run.rate_limit_waits).toBeGreaterThan(0);
    expect(calls('POST', repo)).toHaveLength(1);
    expect(env.gh.issue('acme', repo, 2)).toBeUndefined();
    expect(env.gh.issue('acme', repo, 1)).toMatchObject({ title: 'Done already', state: 'closed' });
    expect(JSON.parse(calls('POST', repo)[0]?.body ?? '{}')).toEqual({
      title: 'Done already',
      body: 'Body text\n\n<!-- pronaflow:task_c1 -->',
    });
    expect(await linkOfRecordIn(b, 'task_c1')).toMatchObject({ external_id: '1' });
    expect(await pendingPage(b, 10)).toEqual([]);
    // Its echo inbound is skipped (the marker is not part of the mapped description) …
    const echo = await sync(b);
    expect(echo.inbound).toMatchObject({ added: 0, updated: 0 });
    expect(await env.records()).toEqual([]);
    // … and a GitHub edit comes in without it.
    env.clock.advance(5000);
    env.gh.editIssue('acme', repo, 1, { title: 'Renamed on GitHub' });
    await sync(b);
    const records = await env.records();
    expect(records.map((r) => [r.pronaflow_id, r.values.title, r.values.description])).toEqual([
      ['task_c1', 'Renamed on GitHub', 'Body text'],
    ]);
  });

  it('a crash between the POST and the link: the resumed run finds the issue by its marker', async () => {
    const b = await binding();
    const repo = repoOf(b);
    env.gh.repo('acme', repo);
    await emit('task.created', {
      task_id: 'task_c2',
      project_id: b.project_id,
      title: 'Once',
      status: 'todo',
    });
    const current = await env.binding(b);
    const msg = messageOf({
      connection_id: current.connection_id,
      binding_id: current.id,
      id: current.active_run_id as string,
    });
    const client = db();
    const real = client.send.bind(client) as (c: unknown) => Promise<unknown>;
    let failed = false;
    vi.spyOn(client as { send: (c: unknown) => Promise<unknown> }, 'send').mockImplementation(
      async (command) => {
        const input = (command as { input?: { Item?: { entity?: string } } }).input;
        if (!failed && command instanceof PutCommand && input?.Item?.entity === 'SyncLink') {
          failed = true;
          throw new Error('injected crash');
        }
        return real(command);
      },
    );
    env.gh.calls.length = 0;
    await expect(workOnRun(msg, env.opts())).rejects.toThrow('injected crash');
    expect(calls('POST', repo)).toHaveLength(1);
    vi.restoreAllMocks();
    expect(await workOnRun(msg, env.opts())).toBe('finished');
    expect(calls('POST', repo)).toHaveLength(1);
    const lookups = calls('GET', repo).filter((c) => c.query.sort === 'created');
    expect(lookups).toHaveLength(1);
    expect(lookups[0]?.query).toMatchObject({ state: 'all', direction: 'desc' });
    expect(await linkOfRecordIn(b, 'task_c2')).toMatchObject({ external_id: '1' });
    const run = await env.run({ connection_id: b.connection_id, binding_id: b.id, id: msg.run_id });
    expect(run.outbound).toMatchObject({ added: 1, failed: 0 });
    // The orphan is not brought back as a new task.
    const next = await sync(b);
    expect(next.inbound.added).toBe(0);
    expect(await env.records()).toEqual([]);
  });

  it('an adapter that cannot look for it creates again and says so in the run’s errors', async () => {
    const b = await binding();
    const repo = repoOf(b);
    env.gh.repo('acme', repo);
    await emit('task.created', {
      task_id: 'task_c3',
      project_id: b.project_id,
      title: 'Twice?',
      status: 'todo',
    });
    const current = await env.binding(b);
    const msg = messageOf({
      connection_id: current.connection_id,
      binding_id: current.id,
      id: current.active_run_id as string,
    });
    const findCreated = githubAdapter.findCreated;
    delete githubAdapter.findCreated;
    try {
      const client = db();
      const real = client.send.bind(client) as (c: unknown) => Promise<unknown>;
      let failed = false;
      vi.spyOn(client as { send: (c: unknown) => Promise<unknown> }, 'send').mockImplementation(
        async (command) => {
          const input = (command as { input?: { Item?: { entity?: string } } }).input;
          if (!failed && command instanceof PutCommand && input?.Item?.entity === 'SyncLink') {
            failed = true;
            throw new Error('injected crash');
          }
          return real(command);
        },
      );
      env.gh.calls.length = 0;
      await expect(workOnRun(msg, env.opts())).rejects.toThrow('injected crash');
      vi.restoreAllMocks();
      expect(await workOnRun(msg, env.opts())).toBe('finished');
    } finally {
      githubAdapter.findCreated = findCreated;
    }
    expect(calls('POST', repo)).toHaveLength(2);
    const run = await env.run({ connection_id: b.connection_id, binding_id: b.id, id: msg.run_id });
    expect(run.errors).toEqual([
      expect.objectContaining({
        direction: 'outbound',
        pronaflow_id: 'task_c3',
        message: expect.stringMatching(/twice/),
      }),
    ]);
  });
});

describe('4. comments stay in their repository', () => {
  /** Repository A with its issues bound, repository B with its issues and its comments bound. */
  async function twoRepos() {
    const a = uniqueRepo('ra');
    const bRepo = uniqueRepo('rb');
    const issuesA = await binding({
      resource: { type: 'github_repository', owner: 'acme', repo: a, kind: 'issues' },
    });
    const issuesB = await binding({
      resource: { type: 'github_repository', owner: 'acme', repo: bRepo, kind: 'issues' },
    });
    const commentsB = await binding({
      project_id: issuesB.project_id,
      sync_entity: 'comment',
      resource: { type: 'github_repository', owner: 'acme', repo: bRepo, kind: 'issue_comments' },
      field_mapping: [
        { source: 'body', target: 'body' },
        { source: 'user', target: 'author' },
      ],
    });
    env.gh.seed({ owner: 'acme', repo: a, issues: 2 });
    env.gh.seed({ owner: 'acme', repo: bRepo, issues: 2 });
    await sync(issuesA);
    await sync(issuesB);
    await env.records();
    return { a, bRepo, issuesA, issuesB, commentsB };
  }

  it('a comment on a task of repository A is not posted to repository B', async () => {
    const { bRepo, issuesA, commentsB } = await twoRepos();
    const taskA = pronaflowIdFor('task', issuesA.id, '2');
    await emit('comment.created', {
      comment_id: 'cmt_ra1',
      task_id: taskA,
      body: 'For A',
      author_id: 'usr_1',
    });
    expect(await pendingPage(commentsB, 10)).toEqual([]);
    env.gh.calls.length = 0;
    await sync(commentsB);
    expect(calls('POST', bRepo)).toEqual([]);
  });

  it('a pending comment whose task is linked only in another repository fails, posting nothing', async () => {
    const { bRepo, issuesA, commentsB } = await twoRepos();
    const taskA = pronaflowIdFor('task', issuesA.id, '2');
    await db().send(
      new PutCommand({
        TableName: tableName(),
        Item: {
          ...bindingKeys.pending(commentsB.connection_id, commentsB.id, 'cmt_ra2'),
          entity: 'SyncPending',
          binding_id: commentsB.id,
          pronaflow_id: 'cmt_ra2',
          op: 'create',
          values: { body: 'For A' },
          parent_pronaflow_id: taskA,
          event_id: newId('evt'),
          occurred_at: new Date(env.clock.now()).toISOString(),
        },
      }),
    );
    env.gh.calls.length = 0;
    const run = await sync(commentsB);
    expect(calls('POST', bRepo)).toEqual([]);
    expect(run.outbound).toMatchObject({ added: 0, failed: 1 });
    expect(run.errors[0]?.message).toMatch(/not linked/);
  });

  it('an inbound comment names its parent’s binding resource and PronaFlow id', async () => {
    const { bRepo, issuesB, commentsB } = await twoRepos();
    const comment = env.gh.addComment('acme', bRepo, 2, { body: 'On B #2' });
    await sync(commentsB);
    const records = await env.records();
    expect(records.map((r) => [r.external.id, r.parent_external_id, r.parent])).toEqual([
      [
        String(comment.id),
        '2',
        {
          external_id: '2',
          resource_key: issuesB.resource_key,
          pronaflow_id: pronaflowIdFor('task', issuesB.id, '2'),
        },
      ],
    ]);
  });
});

describe('3. conflicts are settled per field', () => {
  /**
   * GitHub changes `github` (issue fields) while PronaFlow changes `pronaflow` (task fields) of
   * one synced issue; then one run of the binding.
   */
  async function bothChange(
    policy: BindingItem['conflict_policy'],
    github: { title?: string; body?: string },
    pronaflow: Record<string, unknown>,
    order: 'github_first' | 'pronaflow_first' = 'github_first',
  ) {
    const b = await binding({ conflict_policy: policy });
    const repo = repoOf(b);
    env.gh.seed({ owner: 'acme', repo, issues: 1, start: new Date(env.clock.now() - 60_000) });
    await sync(b);
    const [record] = await env.records();
    const pfId = record?.pronaflow_id as string;
    const changes = Object.fromEntries(Object.entries(pronaflow).map(([k, v]) => [k, { to: v }]));
    const edit = () => env.gh.editIssue('acme', repo, 1, github);
    env.clock.advance(5000);
    if (order === 'github_first') edit();
    env.clock.advance(5000);
    await emit('task.updated', { task_id: pfId, changes });
    env.clock.advance(5000);
    if (order === 'pronaflow_first') edit();
    env.gh.calls.length = 0;
    const run = await sync(b);
    const records = await env.records();
    const patched = calls('PATCH', repo).map((c) => JSON.parse(c.body));
    // The run after: nothing left to sync either way (the link is consistent with both sides).
    env.gh.calls.length = 0;
    const next = await sync(b);
    expect(next.inbound).toMatchObject({ added: 0, updated: 0, failed: 0 });
    expect(next.outbound).toMatchObject({ added: 0, updated: 0 });
    expect(await env.records()).toEqual([]);
    expect(calls('PATCH', repo)).toEqual([]);
    expect(await pendingPage(b, 10)).toEqual([]);
    return { run, records, patched, issue: env.gh.issue('acme', repo, 1), pfId };
  }

  it('GitHub changes the body, PronaFlow the title: both changes survive (no conflict)', async () => {
    const { run, records, patched, issue } = await bothChange(
      'provider_wins',
      { body: 'GitHub body' },
      { title: 'PronaFlow title' },
    );
    expect(run.inbound.updated).toBe(1);
    expect(records).toHaveLength(1);
    expect(records[0]?.values).toEqual({ description: 'GitHub body', status: 'todo', labels: [] });
    expect(patched).toEqual([{ title: 'PronaFlow title' }]);
    expect(issue).toMatchObject({ title: 'PronaFlow title', body: 'GitHub body' });
  });

  it('provider_wins: GitHub’s title wins the conflict, PronaFlow’s status still goes out', async () => {
    const { records, patched, issue } = await bothChange(
      'provider_wins',
      { title: 'GitHub title', body: 'GitHub body' },
      { title: 'PronaFlow title', status: 'done' },
    );
    expect(records.map((r) => r.values)).toEqual([
      { title: 'GitHub title', description: 'GitHub body', labels: [] },
    ]);
    expect(patched).toEqual([{ state: 'closed' }]);
    expect(issue).toMatchObject({ title: 'GitHub title', body: 'GitHub body', state: 'closed' });
  });

  it('pronaflow_wins: PronaFlow’s title and status go out, GitHub’s body still comes in', async () => {
    const { run, records, patched, issue } = await bothChange(
      'pronaflow_wins',
      { title: 'GitHub title', body: 'GitHub body' },
      { title: 'PronaFlow title', status: 'done' },
    );
    expect(run.inbound.updated).toBe(1);
    expect(records.map((r) => r.values)).toEqual([{ description: 'GitHub body', labels: [] }]);
    expect(patched).toEqual([{ title: 'PronaFlow title', state: 'closed' }]);
    expect(issue).toMatchObject({ title: 'PronaFlow title', body: 'GitHub body', state: 'closed' });
  });

  it('newest_wins: the later side wins the conflicting field, each keeps its other changes', async () => {
    const githubNewer = await bothChange(
      'newest_wins',
      { title: 'GitHub title', body: 'GitHub body' },
      { title: 'PronaFlow title', status: 'done' },
      'pronaflow_first',
    );
    expect(githubNewer.records.map((r) => r.values)).toEqual([
      { title: 'GitHub title', description: 'GitHub body', labels: [] },
    ]);
    expect(githubNewer.patched).toEqual([{ state: 'closed' }]);
    expect(githubNewer.issue).toMatchObject({ title: 'GitHub title', body: 'GitHub body', state: 'closed' });

    const pronaflowNewer = await bothChange(
      'newest_wins',
      { title: 'GitHub title', body: 'GitHub body' },
      { title: 'PronaFlow title', status: 'done' },
      'github_first',
    );
    expect(pronaflowNewer.records.map((r) => r.values)).toEqual([{ description: 'GitHub body', labels: [] }]);
    expect(pronaflowNewer.patched).toEqual([{ title: 'PronaFlow title', state: 'closed' }]);
    expect(pronaflowNewer.issue).toMatchObject({
      title: 'PronaFlow title',
      body: 'GitHub body',
      state: 'closed',
    });
  });
});

describe('5. pending changes are read with each inbound page', () => {
  it('a PronaFlow change made while the run lists is seen by the page it conflicts with', async () => {
    const b = await binding({ conflict_policy: 'pronaflow_wins' });
    const repo = repoOf(b);
    env.gh.seed({ owner: 'acme', repo, issues: 1, start: new Date(env.clock.now() - 60_000) });
    await sync(b);
    const [record] = await env.records();
    env.clock.advance(5000);
    env.gh.editIssue('acme', repo, 1, { title: 'GitHub title' });
    const run = await startRun(await env.binding(b), { trigger: 'manual' });
    const real = githubAdapter.listChanges.bind(githubAdapter);
    let emitted = false;
    vi.spyOn(githubAdapter, 'listChanges').mockImplementation(async (ctx, resource, state) => {
      const page = await real(ctx, resource, state);
      if (!emitted) {
        emitted = true;
        // After the invocation began, before its page is classified.
        await emit('task.updated', {
          task_id: record?.pronaflow_id,
          changes: { title: { to: 'PronaFlow title' } },
        });
      }
      return page;
    });
    env.gh.calls.length = 0;
    expect(await workOnRun(messageOf(run), env.opts())).toBe('finished');
    const done = await env.run(run);
    expect(done.inbound).toMatchObject({ updated: 0, skipped: 1 });
    expect(await env.records()).toEqual([]);
    expect(calls('PATCH', repo).map((c) => JSON.parse(c.body))).toEqual([{ title: 'PronaFlow title' }]);
  });
});

describe('6. stale PronaFlow events', () => {
  it('an event older than the change last written out is dropped (no pending, no write)', async () => {
    const b = await env.makeBinding({ direction: 'OUTBOUND', project_id: `prj_rev${++projects}` });
    const repo = repoOf(b);
    env.gh.repo('acme', repo);
    const t0 = env.clock.now();
    await emit('task.created', {
      task_id: 'task_s1',
      project_id: b.project_id,
      title: 'First',
      status: 'todo',
    });
    await sync(b);
    await emit(
      'task.updated',
      { task_id: 'task_s1', changes: { title: { to: 'Newest' } } },
      new Date(t0 + 20_000).toISOString(),
    );
    await sync(b);
    expect(env.gh.issue('acme', repo, 1)?.title).toBe('Newest');
    expect((await linkOfRecordIn(b, 'task_s1'))?.pf_updated_at).toBe(new Date(t0 + 20_000).toISOString());
    // Delivered late (or again): older than what was written.
    await emit(
      'task.updated',
      { task_id: 'task_s1', changes: { title: { to: 'Older' } } },
      new Date(t0 + 10_000).toISOString(),
    );
    expect(await pendingPage(b, 10)).toEqual([]);
    env.gh.calls.length = 0;
    await sync(b);
    expect(calls('PATCH', repo)).toEqual([]);
    expect(env.gh.issue('acme', repo, 1)?.title).toBe('Newest');
  });
});

describe('7. stale provider reads', () => {
  it('a listed record older than the version last synced is skipped, not published', async () => {
    const b = await env.makeBinding();
    const repo = repoOf(b);
    const [old] = env.gh.seed({
      owner: 'acme',
      repo,
      issues: 1,
      start: new Date(env.clock.now() - 60_000),
    }).issues;
    const stale = structuredClone(old);
    await sync(b);
    env.clock.advance(5000);
    env.gh.editIssue('acme', repo, 1, { title: 'New title' });
    await sync(b);
    expect((await env.records()).map((r) => r.values.title)).toEqual(['Issue 1', 'New title']);
    // A lagging replica answers the listing with the version before.
    env.gh.inject(
      { kind: 'raw', status: 200, body: [stale] },
      (m, p) => m === 'GET' && p.endsWith(`/${repo}/issues`),
    );
    const run = await sync(b);
    expect(run.inbound).toMatchObject({ updated: 0, skipped: 1 });
    expect(await env.records()).toEqual([]);
  });
});

describe('8. record sizes', () => {
  it('batches stay within SQS’s 1 MiB, and a record over the message limit fails alone', async () => {
    const b = await env.makeBinding();
    const repo = repoOf(b);
    const big = 'x'.repeat(110 * 1024);
    for (let i = 0; i < 12; i++) env.gh.addIssue('acme', repo, { body: `${i}${big}` });
    const huge = env.gh.addIssue('acme', repo, { body: 'y'.repeat(300 * 1024) });
    const { sqs } = await import('#shared/queues.ts');
    const client = sqs();
    const real = client.send.bind(client) as (c: unknown) => Promise<unknown>;
    const batches: number[][] = [];
    vi.spyOn(client as { send: (c: unknown) => Promise<unknown> }, 'send').mockImplementation(
      async (command) => {
        const entries = (command as { input?: { Entries?: { MessageBody?: string }[] } }).input?.Entries;
        if (entries) batches.push(entries.map((e) => Buffer.byteLength(e.MessageBody ?? '', 'utf8')));
        return real(command);
      },
    );
    const run = await sync(b);
    vi.restoreAllMocks();
    expect(run.status).toBe('PARTIAL');
    expect(run.inbound).toMatchObject({ added: 12, failed: 1 });
    expect(run.errors).toEqual([
      expect.objectContaining({
        direction: 'inbound',
        external_id: String(huge.number),
        message: expect.stringMatching(/too large/),
      }),
    ]);
    const recordBatches = batches.filter((sizes) => sizes.some((n) => n > 100 * 1024));
    expect(recordBatches.flat()).toHaveLength(12);
    for (const sizes of recordBatches) {
      expect(sizes.length).toBeLessThanOrEqual(10);
      expect(sizes.reduce((a, n) => a + n, 0)).toBeLessThanOrEqual(1024 * 1024);
    }
    expect((await env.records()).map((r) => r.external.id).sort()).toHaveLength(12);
  });
});

describe('9. ETags of a run over several invocations', () => {
  it('the first invocation’s ETag is kept on the binding when a later one ends the run', async () => {
    const b = await binding();
    const repo = repoOf(b);
    env.gh.seed({ owner: 'acme', repo, issues: 1, start: new Date(env.clock.now() - 60_000) });
    await sync(b);
    const [record] = await env.records();
    await emit('task.updated', { task_id: record?.pronaflow_id, changes: { title: { to: 'Out' } } });
    const current = await env.binding(b);
    const msg = messageOf({
      connection_id: current.connection_id,
      binding_id: current.id,
      id: current.active_run_id as string,
    });
    // The incremental listing (conditional, its ETag remembered), then the outbound phase.
    expect(await workOnRun(msg, env.opts({ maxPages: 1 }))).toBe('continued');
    expect(await workOnRun(msg, env.opts())).toBe('finished');
    const etags = (await env.binding(b)).etags;
    expect(Object.keys(etags)).toEqual([`${`acme/${repo}#issues`.toLowerCase()}|${current.checkpoint}`]);
  });
});
