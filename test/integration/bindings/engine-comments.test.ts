import { describe, expect, it } from 'vitest';
import { bindingsConsumers } from '#shared/bindings/consumer.ts';
import { workOnRun } from '#shared/bindings/engine.ts';
import { pronaflowIdFor } from '#shared/bindings/records.ts';
import { startRun } from '#shared/bindings/runs.ts';
import { type BindingItem, linkOfRecordIn } from '#shared/bindings/store.ts';
import type { PronaFlowEvent } from '#shared/events/envelope.ts';
import { ingestMessage } from '#shared/events/ingest.ts';
import { newId } from '#shared/ids.ts';
import { messageOf, uniqueRepo, useBindingsEnv } from '#test/helpers/bindings.ts';

// Comments belong to a task: inbound they name their issue (parent_external_id) so core can
// attach them, outbound a PronaFlow comment goes to the issue its task is linked to.

const env = useBindingsEnv();

async function sync(binding: BindingItem) {
  const current = await env.binding(binding);
  const runId = current.active_run_id ?? (await startRun(current, { trigger: 'manual' })).id;
  const msg = messageOf({ connection_id: current.connection_id, binding_id: current.id, id: runId });
  for (let i = 0; i < 10; i++) if ((await workOnRun(msg, env.opts())) === 'finished') break;
  return env.run({ connection_id: current.connection_id, binding_id: current.id, id: runId });
}

async function pair() {
  const repo = uniqueRepo('c');
  const issues = await env.makeBinding({
    direction: 'BIDIRECTIONAL',
    project_id: `prj_${repo}`,
    resource: { type: 'github_repository', owner: 'acme', repo, kind: 'issues' },
  });
  const comments = await env.makeBinding({
    direction: 'BIDIRECTIONAL',
    project_id: `prj_${repo}`,
    sync_entity: 'comment',
    resource: { type: 'github_repository', owner: 'acme', repo, kind: 'issue_comments' },
    field_mapping: [
      { source: 'body', target: 'body' },
      { source: 'user', target: 'author' },
    ],
  });
  return { repo, issues, comments };
}

describe('comments', () => {
  it('inbound: a comment names the issue it belongs to', async () => {
    const { repo, issues, comments } = await pair();
    const seeded = env.gh.seed({ owner: 'acme', repo, issues: 2, comments: 2 });
    await sync(issues);
    await env.records();
    const run = await sync(comments);
    expect(run.status).toBe('SUCCEEDED');
    expect(run.inbound.added).toBe(2);
    const records = await env.records();
    expect(records.map((r) => [r.external.id, r.entity, r.parent_external_id]).sort()).toEqual(
      seeded.comments.map((c) => [String(c.id), 'comment', String(c.issue_number)]).sort(),
    );
    expect(records[0]?.pronaflow_id.startsWith('cmt_')).toBe(true);
  });

  it('outbound: comment.created on a linked task is posted to its issue', async () => {
    const { repo, issues, comments } = await pair();
    env.gh.seed({ owner: 'acme', repo, issues: 2 });
    await sync(issues);
    await sync(comments);
    await env.records();
    const task = pronaflowIdFor('task', issues.id, '2');
    const event: PronaFlowEvent = {
      id: newId('evt'),
      type: 'comment.created',
      workspace_id: 'ws1',
      occurred_at: new Date().toISOString(),
      data: { comment_id: 'cmt_pf1', task_id: task, body: 'Looks good', author_id: 'usr_1' },
    };
    expect(await ingestMessage(event.id, JSON.stringify(event), bindingsConsumers)).toMatchObject({
      outcome: 'dispatched',
    });
    env.gh.calls.length = 0;
    const run = await sync(comments);
    expect(run.outbound).toMatchObject({ added: 1, failed: 0 });
    const posts = env.gh.calls.filter((c) => c.method === 'POST');
    expect(posts.map((c) => [c.path, JSON.parse(c.body)])).toEqual([
      [`/repos/acme/${repo}/issues/2/comments`, { body: 'Looks good\n\n<!-- pronaflow:cmt_pf1 -->' }],
    ]);
    const link = await linkOfRecordIn(await env.binding(comments), 'cmt_pf1');
    expect(env.gh.comment('acme', repo, Number(link?.external_id))?.issue_number).toBe(2);
    // Its echo inbound is skipped.
    const next = await sync(comments);
    expect(next.inbound).toMatchObject({ added: 0, updated: 0 });
    expect(await env.records()).toEqual([]);
  });
});
