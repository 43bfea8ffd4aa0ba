import { describe, expect, it } from 'vitest';
import { workOnRun } from '#shared/bindings/engine.ts';
import { pronaflowIdFor, RECORD_SCHEMA, recordMessage } from '#shared/bindings/records.ts';
import { startRun } from '#shared/bindings/runs.ts';
import { type BindingItem, linksOf } from '#shared/bindings/store.ts';
import { check } from '#shared/validation.ts';
import { messageOf, useBindingsEnv } from '#test/helpers/bindings.ts';

// The engine's inbound phase against the fake GitHub: first runs, incremental runs, 304s,
// malformed records and deletions (full runs), each through startRun → the run message → workOnRun.

const env = useBindingsEnv();

const repoOf = (b: BindingItem) => b.resource.repo as string;
const tokenOfLastCall = () => env.gh.calls.at(-1)?.headers.authorization?.replace(/^Bearer /i, '') as string;

async function runOnce(binding: BindingItem, opts: { full?: boolean; maxPages?: number } = {}) {
  const run = await startRun(await env.binding(binding), { trigger: 'manual', full: opts.full ?? false });
  const result = await workOnRun(messageOf(run), env.opts({ maxPages: opts.maxPages ?? 0 }));
  return { result, run: await env.run(run) };
}

describe('a first inbound run', () => {
  it('syncs 250 issues over 3 Link pages: counts, records, checkpoint, binding, sync.completed', async () => {
    const binding = await env.makeBinding();
    const { issues } = env.gh.seed({ owner: 'acme', repo: repoOf(binding), issues: 250 });
    const { result, run } = await runOnce(binding);
    expect(result).toBe('finished');
    expect(run.status).toBe('SUCCEEDED');
    expect(run.inbound).toEqual({ added: 250, updated: 0, deleted: 0, skipped: 0, failed: 0 });
    expect(run.pages_fetched).toBe(3);
    expect(run.provider_calls).toBe(3);
    expect(run.invocations).toBe(1);
    const newest = issues
      .map((i) => i.updated_at)
      .sort()
      .at(-1);
    expect(run.checkpoint_to).toBe(newest);
    const listings = env.gh.calls.filter((c) => c.method === 'GET');
    expect(listings).toHaveLength(3);
    expect(listings[0]?.query).toMatchObject({ state: 'all', sort: 'updated', direction: 'asc' });
    expect(listings[0]?.query.since).toBeUndefined();

    const records = await env.records();
    expect(records).toHaveLength(250);
    for (const r of records) {
      expect(check(recordMessage, r).success).toBe(true);
      expect(r.schema).toBe(RECORD_SCHEMA);
      expect(r).toMatchObject({ op: 'upsert', created: true, entity: 'task', run_id: run.id });
      expect(r.pronaflow_id).toBe(pronaflowIdFor('task', binding.id, r.external.id));
    }
    expect(new Set(records.map((r) => r.external.id)).size).toBe(250);
    const first = records.find((r) => r.external.id === '1');
    expect(first?.values).toMatchObject({ title: 'Issue 1', status: 'todo', description: null, labels: [] });
    expect(first?.project_id).toBe('prj_1');

    const after = await env.binding(binding);
    expect(after.checkpoint).toBe(newest);
    expect(after.last_run).toMatchObject({ id: run.id, status: 'SUCCEEDED', trigger: 'manual' });
    expect(after.active_run_id).toBeUndefined();
    const links = await linksOf(after, ['1', '250']);
    expect(links.get('250')?.pronaflow_id).toBe(pronaflowIdFor('task', binding.id, '250'));

    const events = await env.events();
    const completed = events.filter((e) => e.type === 'sync.completed');
    expect(completed).toHaveLength(1);
    expect(completed[0]?.data).toMatchObject({
      binding_id: binding.id,
      run_id: run.id,
      status: 'SUCCEEDED',
      inbound: { added: 250, updated: 0, deleted: 0, skipped: 0, failed: 0 },
      checkpoint_to: newest,
    });
  });
});

describe('incremental runs', () => {
  it('sends since, updates only the changed issues; an unchanged repository answers 304 without quota', async () => {
    const binding = await env.makeBinding();
    const repo = repoOf(binding);
    env.gh.seed({ owner: 'acme', repo, issues: 5, start: new Date(Date.now() - 60_000) });
    await runOnce(binding);
    const checkpoint = (await env.binding(binding)).checkpoint;
    await env.records();

    env.gh.editIssue('acme', repo, 2, { title: 'Renamed two' });
    env.gh.editIssue('acme', repo, 4, { state: 'closed' });
    env.gh.calls.length = 0;
    const second = await runOnce(binding);
    expect(second.run.status).toBe('SUCCEEDED');
    expect(env.gh.calls[0]?.query.since).toBe(checkpoint);
    expect(second.run.checkpoint_from).toBe(checkpoint);
    expect(second.run.inbound).toMatchObject({ added: 0, updated: 2, deleted: 0, failed: 0 });
    const records = await env.records();
    expect(records.map((r) => r.external.id).sort()).toEqual(['2', '4']);
    expect(records.every((r) => !r.created)).toBe(true);
    expect(records.find((r) => r.external.id === '2')?.values.title).toBe('Renamed two');
    expect(records.find((r) => r.external.id === '4')?.values.status).toBe('done');

    // Nothing changes: the listing from the same checkpoint is answered 304 (GitHub counts no quota).
    await runOnce(binding);
    await env.records();
    const token = tokenOfLastCall();
    const usedBefore = env.gh.quota(token).used;
    const checkpointBefore = (await env.binding(binding)).checkpoint;
    env.gh.calls.length = 0;
    const before = env.gh.counters.notModified;
    const third = await runOnce(binding);
    const call = env.gh.calls[0];
    expect(env.gh.calls).toHaveLength(1);
    expect(call?.conditional).toBe(true);
    expect(call?.status).toBe(304);
    expect(third.run.status).toBe('SUCCEEDED');
    expect(third.run.not_modified).toBe(1);
    expect(third.run.inbound).toEqual({ added: 0, updated: 0, deleted: 0, skipped: 0, failed: 0 });
    expect(env.gh.counters.notModified).toBe(before + 1);
    expect(await env.records()).toEqual([]);
    expect(env.gh.quota(token).used).toBe(usedBefore);
    expect((await env.binding(binding)).checkpoint).toBe(checkpointBefore);
  });
  it('keeps the ETag of the current checkpoint only (the binding does not grow run after run)', async () => {
    const binding = await env.makeBinding();
    const repo = repoOf(binding);
    env.gh.seed({ owner: 'acme', repo, issues: 3, start: new Date(env.clock.now() - 60_000) });
    await runOnce(binding);
    let since: string | null = null;
    for (let i = 1; i <= 4; i++) {
      env.clock.advance(2000);
      env.gh.editIssue('acme', repo, 1, { title: `Edit ${i}` });
      const { run } = await runOnce(binding);
      expect(run.inbound.updated).toBe(1);
      since = run.checkpoint_from;
    }
    // One ETag: the last run's listing (from its checkpoint), not one per checkpoint ever used.
    const { etags } = await env.binding(binding);
    expect(Object.keys(etags)).toEqual([`${`acme/${repo}#issues`.toLowerCase()}|${since}`]);
    await env.records();
  });
});

describe('record versions', () => {
  it('a title changed and changed back is a new version (a new idempotency key), as is a second delete', async () => {
    const binding = await env.makeBinding();
    const repo = repoOf(binding);
    env.gh.seed({ owner: 'acme', repo, issues: 2, start: new Date(env.clock.now() - 60_000) });
    await runOnce(binding);
    const keys = (await env.records()).filter((r) => r.external.id === '1').map((r) => r.idempotency_key);
    for (const title of ['Changed', 'Issue 1']) {
      env.clock.advance(2000);
      env.gh.editIssue('acme', repo, 1, { title });
      await runOnce(binding);
      const [record] = await env.records();
      expect(record?.values.title).toBe(title);
      keys.push(record?.idempotency_key as string);
    }
    expect(new Set(keys).size).toBe(3);

    // Deleted, restored (and edited), deleted again: two deletes, two keys.
    const deletes: string[] = [];
    for (let i = 0; i < 2; i++) {
      env.gh.deleteIssue('acme', repo, 2);
      await runOnce(binding, { full: true });
      const del = (await env.records()).filter((r) => r.op === 'delete');
      expect(del.map((r) => r.external.id)).toEqual(['2']);
      deletes.push(del[0]?.idempotency_key as string);
      env.gh.repo('acme', repo).deleted.delete(2);
      env.clock.advance(2000);
      env.gh.editIssue('acme', repo, 2, { title: `Back ${i}` });
      const { run } = await runOnce(binding);
      expect(run.inbound.added).toBe(1);
      await env.records();
    }
    expect(deletes[0]).not.toBe(deletes[1]);
  });
});

describe('malformed records', () => {
  it('counts them failed with their external id; the run is PARTIAL and the others sync', async () => {
    const binding = await env.makeBinding();
    const repo = repoOf(binding);
    env.gh.seed({ owner: 'acme', repo, issues: 4 });
    env.gh.injectMalformed('acme', repo, { number: 9001, title: 42, updated_at: new Date().toISOString() });
    env.gh.injectMalformed('acme', repo, { number: 9002, title: 'No date', updated_at: 'yesterday' });
    const { run } = await runOnce(binding);
    expect(run.status).toBe('PARTIAL');
    expect(run.inbound).toMatchObject({ added: 4, failed: 2 });
    expect(run.errors_total).toBe(2);
    expect(run.errors.map((e) => e.external_id).sort()).toEqual(['9001', '9002']);
    expect(run.errors.every((e) => e.direction === 'inbound' && e.message.length > 0)).toBe(true);
    expect((await env.records()).map((r) => r.external.id).sort()).toEqual(['1', '2', '3', '4']);
    const events = await env.events();
    expect(events.find((e) => e.type === 'sync.completed')?.data).toMatchObject({
      status: 'PARTIAL',
      errors_total: 2,
    });
  });
});

describe('deletions', () => {
  it('a full run finds an issue deleted at GitHub: inbound.deleted = 1 and a delete record', async () => {
    const binding = await env.makeBinding();
    const repo = repoOf(binding);
    env.gh.seed({ owner: 'acme', repo, issues: 5 });
    await runOnce(binding);
    await env.records();
    env.gh.deleteIssue('acme', repo, 3);
    const { run } = await runOnce(binding, { full: true });
    expect(run.status).toBe('SUCCEEDED');
    expect(run.full).toBe(true);
    expect(run.inbound).toMatchObject({ added: 0, updated: 0, deleted: 1, failed: 0 });
    const records = await env.records();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      op: 'delete',
      created: false,
      pronaflow_id: pronaflowIdFor('task', binding.id, '3'),
      idempotency_key: `${binding.id}:3:deleted:${env.gh.issue('acme', repo, 3)?.updated_at}`,
      values: {},
    });
    expect((await linksOf(binding, ['3'])).get('3')?.deleted).toBe(true);
    // GitHub was asked about #3 only, not about every record.
    expect(env.gh.calls.filter((c) => /\/issues\/\d+$/.test(c.path)).map((c) => c.path)).toEqual([
      `/repos/acme/${repo}/issues/3`,
    ]);
    // The next full run does not delete it again.
    const again = await runOnce(binding, { full: true });
    expect(again.run.inbound.deleted).toBe(0);
    expect((await env.records()).filter((r) => r.op === 'delete')).toEqual([]);
  });

  it('a full run of an unchanged repository deletes nothing and does not read every record', async () => {
    const binding = await env.makeBinding();
    env.gh.seed({ owner: 'acme', repo: repoOf(binding), issues: 5 });
    await runOnce(binding, { full: true });
    await env.records();
    env.gh.calls.length = 0;
    const { run } = await runOnce(binding, { full: true });
    expect(run.status).toBe('SUCCEEDED');
    expect(run.inbound.deleted).toBe(0);
    expect(await env.records()).toEqual([]);
    expect(env.gh.calls.filter((c) => /\/issues\/\d+$/.test(c.path))).toEqual([]);
  });

  it('a full run cut by a page budget, or failed by an error, deletes nothing', async () => {
    const binding = await env.makeBinding();
    const repo = repoOf(binding);
    env.gh.seed({ owner: 'acme', repo, issues: 150 });
    await runOnce(binding);
    await env.records();
    // Cut by its page budget: one page of two is read; nothing is deleted (the run is not over).
    const cut = await runOnce(binding, { full: true, maxPages: 1 });
    expect(cut.result).toBe('continued');
    expect(cut.run.status).toBe('RUNNING');
    expect(cut.run.inbound.deleted).toBe(0);
    expect((await env.records()).filter((r) => r.op === 'delete')).toEqual([]);
    // The rest of it: every issue is still there, so still nothing.
    await workOnRun(messageOf(cut.run), env.opts());
    const done = await env.run(cut.run);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.inbound.deleted).toBe(0);

    // Failed on page 2 of a full run: the issues of page 2 were not seen, none is deleted. (Pages
    // after the first are keyset pages, `since` the last record of the page before.)
    let listings = 0;
    env.gh.inject(
      { kind: 'raw', status: 500, body: { message: 'Server Error' } },
      (m, p) => m === 'GET' && p === `/repos/acme/${repo}/issues` && ++listings === 2,
    );
    const failed = await runOnce(binding, { full: true });
    expect(failed.run.status).toBe('FAILED');
    expect(failed.run.error?.code).toBe('provider_error');
    expect(failed.run.inbound.deleted).toBe(0);
    expect((await env.records()).filter((r) => r.op === 'delete')).toEqual([]);
    const links = await linksOf(binding, ['120', '150']);
    expect(links.get('150')?.deleted).toBeUndefined();
  });

  it('an issue that has become unreadable is counted failed, not deleted, and the run goes on', async () => {
    const binding = await env.makeBinding();
    const repo = repoOf(binding);
    env.gh.seed({ owner: 'acme', repo, issues: 3 });
    await runOnce(binding);
    await env.records();
    env.gh.editIssue('acme', repo, 2, { title: 7 as unknown as string });
    const { run } = await runOnce(binding, { full: true });
    expect(run.status).toBe('PARTIAL');
    expect(run.inbound).toMatchObject({ deleted: 0, failed: 1 });
    expect(run.errors.map((e) => e.external_id)).toEqual(['2']);
    expect((await linksOf(binding, ['2'])).get('2')?.deleted).toBeUndefined();
  });
});
