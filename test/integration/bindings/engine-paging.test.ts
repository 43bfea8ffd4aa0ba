import { describe, expect, it } from 'vitest';
import { githubAdapter } from '#shared/bindings/adapters/github.ts';
import { workOnRun } from '#shared/bindings/engine.ts';
import { startRun, updateRun } from '#shared/bindings/runs.ts';
import type { BindingItem } from '#shared/bindings/store.ts';
import { messageOf, useBindingsEnv } from '#test/helpers/bindings.ts';

// GitHub listings paged by keyset (`since` the last record's second, that second's records already
// listed dropped through the cursor), with GitHub's Link URL only when a whole page shares one
// second: records edited between pages are not lost, nothing is listed twice in a run.

const env = useBindingsEnv();

const repoOf = (b: BindingItem) => b.resource.repo as string;
const iso = (ms: number) => `${new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19)}Z`;

/** Works a run one page per invocation until it ends; returns the run and its records' ids. */
async function pageByPage(binding: BindingItem, between?: (page: number) => void) {
  const run = await startRun(await env.binding(binding), { trigger: 'manual' });
  for (let i = 0; i < 30; i++) {
    if ((await workOnRun(messageOf(run), env.opts({ maxPages: 1 }))) === 'finished') break;
    between?.(i + 1);
  }
  const records = await env.records();
  return { run: await env.run(run), ids: records.map((r) => r.external.id) };
}

const listings = () => env.gh.calls.filter((c) => c.method === 'GET' && /\/issues$/.test(c.path));

describe('keyset paging of GitHub listings', () => {
  it('issues edited between pages (before, at and after the boundary): every issue seen, none skipped', async () => {
    const binding = await env.makeBinding();
    env.gh.seed({
      owner: 'acme',
      repo: repoOf(binding),
      issues: 250,
      start: new Date(env.clock.now() - 600_000),
    });
    const { run, ids } = await pageByPage(binding, (page) => {
      if (page !== 1) return;
      env.clock.advance(2000);
      // Already listed (moves to the end), the boundary record itself, and one of the next page.
      for (const n of [10, 100, 150]) env.gh.editIssue('acme', repoOf(binding), n, { title: `Edited ${n}` });
    });
    expect(run.status).toBe('SUCCEEDED');
    expect(new Set(ids).size).toBe(250);
    // Those three come again (edited after they were listed, or listed once in their new place).
    expect(run.inbound.added).toBe(250);
    expect(run.inbound.updated + run.inbound.skipped).toBeLessThanOrEqual(3);
    expect(run.checkpoint_to).toBe(env.gh.issue('acme', repoOf(binding), 150)?.updated_at);
    expect(listings().some((c) => c.query.page !== undefined)).toBe(false);
  });

  it('a whole page in one second: GitHub’s Link page within that second, then keyset again', async () => {
    const binding = await env.makeBinding();
    const repo = repoOf(binding);
    const base = env.clock.now() - 900_000;
    // 150 issues in one second, then 80 one second apart.
    for (let i = 0; i < 150; i++) env.gh.addIssue('acme', repo, { updated_at: iso(base) });
    for (let i = 0; i < 80; i++) env.gh.addIssue('acme', repo, { updated_at: iso(base + (i + 1) * 1000) });
    const { run, ids } = await pageByPage(binding);
    expect(run.status).toBe('SUCCEEDED');
    expect(ids).toHaveLength(230);
    expect(new Set(ids).size).toBe(230);
    expect(run.inbound).toMatchObject({ added: 230, updated: 0, skipped: 0, failed: 0 });
    const calls = listings();
    // Page 1 is 100 records of one second: GitHub's page 2 of that listing (keyset from that
    // second would list the same 100 again); page 2 spans seconds: keyset on from its last.
    expect(calls.map((c) => [c.query.since ?? null, c.query.page ?? null])).toEqual([
      [null, null],
      [null, '2'],
      [iso(base + 50_000), null],
    ]);
  });

  it('keeps its cursor opaque and bounded, and resumes a run saved with an offset cursor', async () => {
    const binding = await env.makeBinding();
    const repo = repoOf(binding);
    const base = env.clock.now() - 900_000;
    // A first page of 100 records all in one second: the cursor carries 100 ids.
    for (let i = 0; i < 130; i++)
      env.gh.addIssue('acme', repo, { updated_at: iso(base + (i < 100 ? 0 : i) * 1000) });
    const run = await startRun(await env.binding(binding), { trigger: 'manual' });
    expect(await workOnRun(messageOf(run), env.opts({ maxPages: 1 }))).toBe('continued');
    const cut = await env.run(run);
    expect(cut.cursor).toMatch(/^ks1\.[A-Za-z0-9_-]+$/);
    expect((cut.cursor as string).length).toBeLessThan(2048);
    expect(cut.cursor).not.toContain('since');

    // A run saved mid-way before keyset paging holds GitHub's Link URL: it goes on from there.
    const legacy = await env.makeBinding();
    env.gh.seed({ owner: 'acme', repo: repoOf(legacy), issues: 150, start: new Date(base) });
    const old = await startRun(await env.binding(legacy), { trigger: 'manual' });
    expect(await workOnRun(messageOf(old), env.opts({ maxPages: 1 }))).toBe('continued');
    const saved = await env.run(old);
    const link = `${env.gh.url}/repositories/${env.gh.repo('acme', repoOf(legacy)).id}/issues?state=all&sort=updated&direction=asc&per_page=100&page=2`;
    await updateRun(saved, { cursor: link });
    expect(await workOnRun(messageOf(old), env.opts())).toBe('finished');
    const done = await env.run(old);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.inbound.added).toBe(150);
    expect(new Set((await env.records()).map((r) => r.external.id)).size).toBe(150);
  });

  it('a malformed item without an updated_at is counted once, not on every keyset page', async () => {
    const binding = await env.makeBinding();
    const repo = repoOf(binding);
    env.gh.seed({ owner: 'acme', repo, issues: 250, start: new Date(env.clock.now() - 600_000) });
    env.gh.injectMalformed('acme', repo, { number: 9002, title: 'No date', updated_at: 'yesterday' });
    const { run, ids } = await pageByPage(binding);
    expect(run.status).toBe('PARTIAL');
    expect(run.inbound).toMatchObject({ added: 250, failed: 1 });
    expect(run.errors.map((e) => e.external_id)).toEqual(['9002']);
    expect(new Set(ids).size).toBe(250);
  });

  it('refuses a cursor that is not its own (the run fails, nothing is listed from nowhere)', async () => {
    const err = await githubAdapter
      .listChanges(
        {} as never,
        { type: 'github_repository', owner: 'acme', repo: 'x', kind: 'issues' },
        {
          cursor: 'ks1.bm90LWpzb24',
        },
      )
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ recordLevel: false, message: expect.stringContaining('cursor') });
  });
});
