import * as v from 'valibot';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type AdapterContext,
  type ExternalRecord,
  ProviderCallError,
  type ProviderResponse,
  type Resource,
} from '#shared/bindings/adapter.ts';
import {
  GITHUB_SECONDARY_MAX_MS,
  githubAdapter,
  githubLocator,
  nextLink,
} from '#shared/bindings/adapters/github.ts';
import { createProviderHttp, emptyProviderStats } from '#shared/bindings/provider-http.ts';
import { findApp, type OAuthApp } from '#shared/oauth/catalog.ts';
import { openAccessToken } from '#shared/oauth/connections.ts';
import type { ConnectionItem } from '#shared/oauth/connections-repo.ts';
import { check } from '#shared/validation.ts';
import { type FakeGitHub, startFakeGitHub } from '#test/helpers/fake-github.ts';
import { connectThroughFlow, useOAuthEnv } from '#test/helpers/oauth-setup.ts';

const env = useOAuthEnv();
let gh: FakeGitHub;
let app: OAuthApp;
let connection: ConnectionItem;
let token: string;

beforeAll(async () => {
  gh = await startFakeGitHub({ provider: env.provider });
  app = { ...(findApp('fake') as OAuthApp), api_base_url: gh.url, sync_adapter: 'github' };
  connection = await connectThroughFlow(env, await env.id.jwt('alice', 'ws1'), 'alice');
  token = await openAccessToken(connection);
});
afterAll(async () => {
  await gh?.stop();
});
beforeEach(() => {
  gh.calls.length = 0;
});

/** An adapter context over the fake GitHub, with the run's ETags and counters. */
function context(etags = new Map<string, string>()) {
  const stats = emptyProviderStats();
  const http = createProviderHttp({
    app,
    connection,
    adapter: githubAdapter,
    deadline: Date.now() + 60_000,
    etags,
    stats,
  });
  return { ctx: { http } as AdapterContext, stats, etags };
}

const repo = (name: string, kind: 'issues' | 'pull_requests' | 'issue_comments' = 'issues'): Resource => ({
  type: 'github_repository',
  owner: 'acme',
  repo: name,
  kind,
});

/** Every page of a listing, as the engine would walk it. */
async function listAll(ctx: AdapterContext, resource: Resource, since?: string) {
  const records: ExternalRecord[] = [];
  const malformed: unknown[] = [];
  let checkpoint: string | undefined;
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await githubAdapter.listChanges(ctx, resource, { since, cursor });
    pages += 1;
    if (page.notModified) return { records, malformed, checkpoint, pages, notModified: true };
    records.push(...page.records);
    malformed.push(...page.malformed);
    if (page.checkpoint && (!checkpoint || page.checkpoint > checkpoint)) checkpoint = page.checkpoint;
    cursor = page.next;
  } while (cursor);
  return { records, malformed, checkpoint, pages, notModified: false };
}

describe('locator and catalog', () => {
  it('accepts a repository locator and refuses bad names, kinds and extra keys', () => {
    const ok = { type: 'github_repository', owner: 'acme-inc', repo: 'web.app_2', kind: 'issues' };
    expect(v.parse(githubLocator, ok)).toEqual(ok);
    for (const bad of [
      { ...ok, owner: '-acme' },
      { ...ok, owner: 'a'.repeat(40) },
      { ...ok, owner: 'ac/me' },
      { ...ok, repo: '..' },
      { ...ok, repo: 'a b' },
      { ...ok, repo: 'r'.repeat(101) },
      { ...ok, kind: 'discussions' },
      { ...ok, type: 'gitlab_project' },
      { ...ok, extra: 1 },
    ]) {
      expect(check(githubLocator, bad).success, JSON.stringify(bad)).toBe(false);
    }
  });

  it('keys a resource by owner/repo#kind, lower-cased', () => {
    expect(githubAdapter.resourceKey({ ...repo('App'), owner: 'ACME' })).toBe('acme/app#issues');
    expect(githubAdapter.resourceKey(repo('App', 'issue_comments'))).toBe('acme/app#issue_comments');
  });

  it('describes issues and pull requests as tasks and comments as comments', () => {
    const [type] = githubAdapter.resourceTypes;
    const byKind = Object.fromEntries(type!.variants.map((v) => [v.kind, v]));
    expect(byKind.issues?.entity).toBe('task');
    expect(byKind.pull_requests?.entity).toBe('task');
    expect(byKind.issue_comments?.entity).toBe('comment');
    expect(byKind.pull_requests?.writable.create).toBe(false);
    const names = (kind: string) => byKind[kind]?.fields.map((f) => f.name);
    expect(names('issues')).toEqual([
      'number',
      'title',
      'body',
      'state',
      'state_reason',
      'assignee',
      'labels',
      'milestone_due_on',
      'user',
      'created_at',
      'updated_at',
      'html_url',
    ]);
    expect(names('pull_requests')).toContain('draft');
    expect(names('issue_comments')).toEqual([
      'body',
      'user',
      'issue_number',
      'created_at',
      'updated_at',
      'html_url',
    ]);
    const readOnly = byKind.issues?.fields.filter((f) => f.read_only).map((f) => f.name);
    expect(readOnly).toEqual([
      'number',
      'state_reason',
      'milestone_due_on',
      'user',
      'created_at',
      'updated_at',
      'html_url',
    ]);
  });
});

describe('listChanges', () => {
  beforeAll(() => {
    gh.seed({ owner: 'acme', repo: 'paged', issues: 230, pullRequests: 20, comments: 120 });
  });

  it('walks every Link page, oldest change first, issues without pull requests', async () => {
    const { ctx, stats } = context();

    const all = await listAll(ctx, repo('paged'));

    expect(all.pages).toBe(3);
    expect(stats.provider_calls).toBe(3);
    expect(all.records).toHaveLength(230);
    expect(new Set(all.records.map((r) => r.id)).size).toBe(230);
    const times = all.records.map((r) => r.updatedAt);
    expect([...times].sort()).toEqual(times);
    expect(all.checkpoint).toBe(gh.issue('acme', 'paged', 250)?.updated_at);
    // Keyset pages: each next page `since` the last record's second of the page before (inclusive:
    // that second's records already listed are dropped), not GitHub's offset `page=N`.
    expect(gh.calls[0]).toMatchObject({
      path: '/repos/acme/paged/issues',
      query: { state: 'all', sort: 'updated', direction: 'asc', per_page: '100' },
    });
    expect(gh.calls[0]?.query.since).toBeUndefined();
    expect(gh.calls[1]).toMatchObject({
      path: '/repos/acme/paged/issues',
      query: { since: gh.issue('acme', 'paged', 100)?.updated_at, per_page: '100', sort: 'updated' },
    });
    expect(gh.calls[2]?.query).toMatchObject({ since: gh.issue('acme', 'paged', 199)?.updated_at });
    expect(gh.calls.some((c) => c.query.page !== undefined)).toBe(false);
    const first = all.records[0] as ExternalRecord;
    expect(first).toMatchObject({
      id: '1',
      url: 'https://github.com/acme/paged/issues/1',
      fields: { number: 1, title: 'Issue 1', state: 'open', user: 'octocat', labels: [], assignee: null },
    });
  });

  it('lists only pull requests for a pull_requests binding, with draft', async () => {
    const { ctx } = context();

    const all = await listAll(ctx, repo('paged', 'pull_requests'));

    expect(all.records.map((r) => Number(r.id))).toEqual(Array.from({ length: 20 }, (_, i) => 231 + i));
    expect(all.records[0]?.fields).toMatchObject({
      draft: false,
      html_url: expect.stringContaining('/pull/231'),
    });
  });

  it('lists issue comments with their issue number', async () => {
    const { ctx } = context();

    const all = await listAll(ctx, repo('paged', 'issue_comments'));

    expect(all.pages).toBe(2);
    expect(all.records).toHaveLength(120);
    expect(all.records[0]?.fields).toMatchObject({ issue_number: 1, user: 'octocat', body: 'Comment on #1' });
    expect(gh.calls[0]).toMatchObject({
      path: '/repos/acme/paged/issues/comments',
      query: { sort: 'updated', direction: 'asc', per_page: '100' },
    });
  });

  it('lists only what changed since the checkpoint', async () => {
    gh.seed({ owner: 'acme', repo: 'since', issues: 50, start: new Date(Date.now() - 3_600_000) });
    const { ctx } = context();
    const full = await listAll(ctx, repo('since'));
    expect(full.records).toHaveLength(50);

    gh.editIssue('acme', 'since', 7, { title: 'Edited on GitHub' });
    gh.addIssue('acme', 'since', { title: 'Brand new' });
    const changed = await listAll(ctx, repo('since'), full.checkpoint);

    expect(gh.calls.at(-1)?.query.since).toBe(full.checkpoint);
    // `since` includes its own second: the newest record of the full listing comes again.
    expect(changed.records.map((r) => r.fields.title)).toEqual(['Issue 50', 'Edited on GitHub', 'Brand new']);
    expect(changed.checkpoint! >= full.checkpoint!).toBe(true);
  });

  it('answers notModified to an unchanged incremental listing, costing no quota', async () => {
    gh.seed({ owner: 'acme', repo: 'etag', issues: 3 });
    const etags = new Map<string, string>();
    const { checkpoint } = await listAll(context(etags).ctx, repo('etag'));
    expect(etags.size).toBe(0);
    const since = checkpoint as string;
    expect((await listAll(context(etags).ctx, repo('etag'), since)).records).toHaveLength(1);
    expect(etags.get(`acme/etag#issues|${since}`)).toMatch(/^W\/"/);
    const used = gh.quota(token).used;

    const again = context(etags);
    const page = await githubAdapter.listChanges(again.ctx, repo('etag'), { since });

    expect(page).toEqual({ records: [], malformed: [], notModified: true });
    expect(gh.quota(token).used).toBe(used);
    expect(again.stats).toMatchObject({ provider_calls: 1, not_modified: 1 });
    // A change on GitHub shows again.
    gh.editIssue('acme', 'etag', 2, { title: 'changed' });
    const changed = await githubAdapter.listChanges(again.ctx, repo('etag'), { since });
    expect(changed.records.map((r) => r.fields.title)).toContain('changed');
  });

  it('never sends a conditional full listing (it is how deletions are seen)', async () => {
    const etags = new Map<string, string>();
    await listAll(context(etags).ctx, repo('etag'));
    await listAll(context(etags).ctx, repo('etag'));

    expect(gh.calls.map((c) => [c.status, c.conditional])).toEqual([
      [200, false],
      [200, false],
    ]);
  });

  it('reports malformed items with their id when known and goes on', async () => {
    gh.seed({ owner: 'acme', repo: 'bad', issues: 2 });
    gh.injectMalformed('acme', 'bad', 'not an object');
    gh.injectMalformed('acme', 'bad', { number: 77, title: 5, updated_at: '2026-01-01T00:00:00Z' });
    gh.injectMalformed('acme', 'bad', { title: 'no number', updated_at: '2026-01-01T00:00:00Z' });
    gh.injectMalformed('acme', 'bad', { number: 78, title: 'no time' });
    gh.injectMalformed('acme', 'bad', { id: 'x', body: 'bad comment' }, 'comments');
    gh.injectMalformed('acme', 'bad', { id: 91, updated_at: '2026-01-01T00:00:00Z' }, 'comments');
    const { ctx } = context();

    const issues = await listAll(ctx, repo('bad'));
    const comments = await listAll(ctx, repo('bad', 'issue_comments'));

    expect(issues.records.map((r) => r.id)).toEqual(['1', '2']);
    expect(issues.malformed).toEqual([
      { externalId: null, error: expect.stringMatching(/not an object/) },
      { externalId: '77', error: expect.stringMatching(/title/) },
      { externalId: null, error: expect.stringMatching(/number/) },
      { externalId: '78', error: expect.stringMatching(/updated_at/) },
    ]);
    expect(comments.malformed).toEqual([
      { externalId: null, error: expect.stringMatching(/id/) },
      { externalId: '91', error: expect.stringMatching(/issue_url/) },
    ]);
  });

  it('fails the run when the repository is missing', async () => {
    const { ctx } = context();

    const err = await githubAdapter.listChanges(ctx, repo('nowhere'), {}).catch((e) => e);

    expect(err).toBeInstanceOf(ProviderCallError);
    expect(err).toMatchObject({ status: 404, recordLevel: false });
  });

  // 101 pages, not 100: each keyset page asks again from the second of the page before's last
  // record, so that record (dropped) takes one of the next page's 100 places.
  it('lists 10 000 issues in 101 pages', async () => {
    gh.seed({ owner: 'acme', repo: 'big', issues: 10_000 });
    const { ctx, stats } = context();

    const all = await listAll(ctx, repo('big'));

    expect(all.records).toHaveLength(10_000);
    expect(all.pages).toBe(101);
    expect(stats.provider_calls).toBe(101);
  });
});

describe('fetchRecord', () => {
  beforeAll(() => {
    gh.seed({ owner: 'acme', repo: 'one', issues: 4, pullRequests: 1, comments: 1 });
  });

  it('reads one issue, pull request or comment', async () => {
    const { ctx } = context();
    gh.editIssue('acme', 'one', 1, {
      labels: [{ id: 1, name: 'bug', color: 'f00', default: false, description: null }],
      milestone: { number: 1, title: 'v1', state: 'open', due_on: '2026-12-24T08:00:00Z' },
    });

    const issue = await githubAdapter.fetchRecord(ctx, repo('one'), '1');
    const pull = await githubAdapter.fetchRecord(ctx, repo('one', 'pull_requests'), '5');
    const commentId = String([...gh.repo('acme', 'one').comments.keys()][0]);
    const comment = await githubAdapter.fetchRecord(ctx, repo('one', 'issue_comments'), commentId);

    expect(issue).toMatchObject({
      id: '1',
      fields: { labels: ['bug'], milestone_due_on: '2026-12-24T08:00:00Z' },
    });
    expect(pull).toMatchObject({ id: '5', fields: { draft: false } });
    expect(comment).toMatchObject({ id: commentId, fields: { issue_number: 1 } });
  });

  it("is 'gone' for a deleted (410), transferred (301), unknown or other-kind record", async () => {
    const { ctx } = context();
    gh.deleteIssue('acme', 'one', 2);
    gh.transferIssue('acme', 'one', 3, 'acme/elsewhere');

    expect(await githubAdapter.fetchRecord(ctx, repo('one'), '2')).toBe('gone');
    expect(await githubAdapter.fetchRecord(ctx, repo('one'), '3')).toBe('gone');
    expect(await githubAdapter.fetchRecord(ctx, repo('one'), '999')).toBe('gone');
    expect(await githubAdapter.fetchRecord(ctx, repo('one'), '5')).toBe('gone');
    expect(await githubAdapter.fetchRecord(ctx, repo('one', 'pull_requests'), '4')).toBe('gone');
    expect(await githubAdapter.fetchRecord(ctx, repo('one', 'issue_comments'), '12345')).toBe('gone');
    expect(gh.calls.map((c) => c.status)).toEqual([410, 301, 404, 200, 200, 404]);
    // Deleted and transferred issues leave the listing too.
    const listed = await listAll(ctx, repo('one'));
    expect(listed.records.map((r) => r.id).sort()).toEqual(['1', '4']);
  });
});

describe('writes', () => {
  beforeAll(() => {
    gh.repo('acme', 'w');
  });

  it('creates an issue with one POST (a closed one stays open: the engine closes it next), marked', async () => {
    const { ctx } = context();

    const open = await githubAdapter.createRecord(
      ctx,
      repo('w'),
      { title: 'From PronaFlow', body: 'Details', assignee: 'mona', labels: ['sync', 'p1'], state: 'open' },
      'task_m1',
    );
    const closed = await githubAdapter.createRecord(ctx, repo('w'), {
      title: 'Done already',
      state: 'closed',
    });

    // The marker is in the body GitHub holds, never in the fields as read.
    expect(open.fields).toMatchObject({
      title: 'From PronaFlow',
      body: 'Details',
      assignee: 'mona',
      labels: ['sync', 'p1'],
      state: 'open',
    });
    expect(closed.fields).toMatchObject({ title: 'Done already', state: 'open' });
    expect(gh.calls.map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual([
      'POST /repos/acme/w/issues 201',
      'POST /repos/acme/w/issues 201',
    ]);
    expect(JSON.parse(gh.calls[0]?.body ?? '')).toEqual({
      title: 'From PronaFlow',
      body: 'Details\n\n<!-- pronaflow:task_m1 -->',
      assignees: ['mona'],
      labels: ['sync', 'p1'],
    });

    // findCreated finds it again by its marker among the recent issues; another marker finds nothing.
    const since = new Date(Date.now() - 60_000).toISOString();
    expect((await githubAdapter.findCreated?.(ctx, repo('w'), 'task_m1', since))?.id).toBe(open.id);
    expect(await githubAdapter.findCreated?.(ctx, repo('w'), 'task_other', since)).toBeUndefined();
    expect(gh.calls.at(-1)?.query).toMatchObject({ state: 'all', sort: 'created', direction: 'desc', since });
  });

  it('updates only the writable fields given', async () => {
    const { ctx } = context();
    const issue = gh.addIssue('acme', 'w', { title: 'Old', body: 'keep me' });

    const updated = await githubAdapter.updateRecord(ctx, repo('w'), String(issue.number), {
      title: 'New',
      labels: ['x'],
      assignee: null,
      number: 999,
      user: 'someone',
    });

    expect(JSON.parse(gh.calls[0]?.body ?? '')).toEqual({ title: 'New', labels: ['x'], assignees: [] });
    expect(updated.fields).toMatchObject({
      number: issue.number,
      title: 'New',
      body: 'keep me',
      labels: ['x'],
    });
    expect(updated.updatedAt >= issue.created_at).toBe(true);
  });

  it('closes an issue as not planned to delete it (GitHub cannot delete issues)', async () => {
    const { ctx } = context();
    const issue = gh.addIssue('acme', 'w', { title: 'To remove' });

    await githubAdapter.deleteRecord(ctx, repo('w'), String(issue.number));

    expect(gh.issue('acme', 'w', issue.number)).toMatchObject({
      state: 'closed',
      state_reason: 'not_planned',
    });
    gh.deleteIssue('acme', 'w', issue.number);
    await expect(githubAdapter.deleteRecord(ctx, repo('w'), String(issue.number))).resolves.toBeUndefined();
  });

  it('creates, updates and deletes comments', async () => {
    const { ctx } = context();
    const issue = gh.addIssue('acme', 'w', { title: 'Commented' });
    const resource = repo('w', 'issue_comments');

    const created = await githubAdapter.createRecord(ctx, resource, {
      body: 'Hi',
      issue_number: issue.number,
    });
    const updated = await githubAdapter.updateRecord(ctx, resource, created.id, {
      body: 'Hello',
      issue_number: 1,
    });
    await githubAdapter.deleteRecord(ctx, resource, created.id);

    expect(created.fields).toMatchObject({ body: 'Hi', issue_number: issue.number });
    expect(updated.fields).toMatchObject({ body: 'Hello', issue_number: issue.number });
    expect(gh.comment('acme', 'w', Number(created.id))).toBeUndefined();
    expect(gh.calls.map((c) => `${c.method} ${c.status}`)).toEqual(['POST 201', 'PATCH 200', 'DELETE 204']);
  });

  it('fails only the record when it is gone by the time of an update', async () => {
    const { ctx } = context();
    const issue = gh.addIssue('acme', 'w', { title: 'Soon deleted' });
    gh.deleteIssue('acme', 'w', issue.number);

    const err = await githubAdapter
      .updateRecord(ctx, repo('w'), String(issue.number), { title: 'x' })
      .catch((e) => e);

    expect(err).toBeInstanceOf(ProviderCallError);
    expect(err).toMatchObject({ status: 410, recordLevel: true });
  });

  it('fails only the record when GitHub refuses its values (422)', async () => {
    const { ctx } = context();

    const noTitle = await githubAdapter.createRecord(ctx, repo('w'), { body: 'no title' }).catch((e) => e);
    const badComment = await githubAdapter
      .createRecord(ctx, repo('w', 'issue_comments'), { body: 'orphan' })
      .catch((e) => e);
    const pull = await githubAdapter
      .createRecord(ctx, repo('w', 'pull_requests'), { title: 'PR' })
      .catch((e) => e);

    expect(noTitle).toBeInstanceOf(ProviderCallError);
    expect(noTitle).toMatchObject({ status: 422, recordLevel: true });
    expect(noTitle.message).toMatch(/title/);
    expect(badComment).toMatchObject({ recordLevel: true });
    expect(pull).toMatchObject({ recordLevel: true });
    expect(gh.calls).toHaveLength(1);
  });
});

describe('rateLimit', () => {
  const now = new Date('2026-06-01T12:00:00Z');
  const res = (status: number, headers: Record<string, string>, message?: string): ProviderResponse => ({
    status,
    headers,
    json: message ? { message } : undefined,
    text: message ? JSON.stringify({ message }) : '',
  });
  const reset = String(now.getTime() / 1000 + 120);

  it('waits retry-after seconds first', () => {
    expect(
      githubAdapter.rateLimit(res(403, { 'retry-after': '30', 'x-ratelimit-remaining': '0' }), now, 0),
    ).toEqual({
      waitMs: 30_000,
      kind: 'retry_after',
    });
    expect(githubAdapter.rateLimit(res(429, { 'retry-after': '5' }), now, 3)).toEqual({
      waitMs: 5_000,
      kind: 'retry_after',
    });
  });

  it('waits until x-ratelimit-reset + 1 s when nothing remains', () => {
    const headers = { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset };
    expect(githubAdapter.rateLimit(res(403, headers), now, 0)).toEqual({ waitMs: 121_000, kind: 'primary' });
    expect(githubAdapter.rateLimit(res(429, headers), now, 0)).toEqual({ waitMs: 121_000, kind: 'primary' });
  });

  it('backs off a secondary limit from 60 s, doubling, capped at 15 min', () => {
    const secondary = res(
      403,
      { 'x-ratelimit-remaining': '4000' },
      'You have exceeded a secondary rate limit.',
    );
    const waits = [0, 1, 2, 3, 4, 10].map((a) => githubAdapter.rateLimit(secondary, now, a)?.waitMs);
    expect(waits).toEqual([
      60_000,
      120_000,
      240_000,
      480_000,
      GITHUB_SECONDARY_MAX_MS,
      GITHUB_SECONDARY_MAX_MS,
    ]);
    expect(githubAdapter.rateLimit(secondary, now, 0)?.kind).toBe('secondary');
  });

  it('is no rate limit for a 403 without permission, nor for other statuses', () => {
    const forbidden = res(403, { 'x-ratelimit-remaining': '4999' }, 'Resource not accessible by integration');
    expect(githubAdapter.rateLimit(forbidden, now, 0)).toBeUndefined();
    expect(githubAdapter.rateLimit(res(200, { 'x-ratelimit-remaining': '0' }), now, 0)).toBeUndefined();
    expect(githubAdapter.rateLimit(res(401, {}, 'Bad credentials'), now, 0)).toBeUndefined();
  });
});

describe('nextLink', () => {
  it("reads rel=next of GitHub's Link header wherever it stands", () => {
    const header =
      '<https://api.github.com/repositories/1/issues?page=1>; rel="prev", <https://api.github.com/repositories/1/issues?page=3>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last"';
    expect(nextLink(header)).toBe('https://api.github.com/repositories/1/issues?page=3');
    expect(nextLink('<https://x.test/a?p=2,3>; rel="next last"')).toBe('https://x.test/a?p=2,3');
    expect(nextLink('<https://x.test/a>; rel="last"')).toBeUndefined();
    expect(nextLink(undefined)).toBeUndefined();
  });
});

describe('the fake GitHub of the local walk-through', () => {
  it("answers GitHub's OAuth web flow and accepts the tokens it issues", async () => {
    const local = await startFakeGitHub({ oauth: true });
    try {
      local.addIssue('acme', 'app', { title: 'Hello' });
      const authorize = await fetch(
        `${local.url}/login/oauth/authorize?client_id=c&redirect_uri=${encodeURIComponent('https://app.test/cb')}&state=s&scope=repo`,
        { redirect: 'manual' },
      );
      const back = new URL(authorize.headers.get('location') as string);
      expect(back.searchParams.get('state')).toBe('s');
      type Tokens = { access_token: string; refresh_token: string };
      const exchange = async (body: Record<string, string>) =>
        (await (
          await fetch(`${local.url}/login/oauth/access_token`, {
            method: 'POST',
            headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams(body),
          })
        ).json()) as Tokens;
      const tokens = await exchange({
        grant_type: 'authorization_code',
        code: back.searchParams.get('code')!,
      });
      expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'repo', expires_in: 28_800 });
      expect(
        await exchange({ grant_type: 'authorization_code', code: back.searchParams.get('code')! }),
      ).toEqual({
        error: 'bad_verification_code',
      });
      const refreshed = await exchange({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });

      const list = (t: string) =>
        fetch(`${local.url}/repos/acme/app/issues`, { headers: { authorization: `Bearer ${t}` } });
      expect((await list(tokens.access_token)).status).toBe(200);
      expect((await list(refreshed.access_token)).status).toBe(200);
      expect((await list('gho_unknown')).status).toBe(401);
    } finally {
      await local.stop();
    }
  });
});
