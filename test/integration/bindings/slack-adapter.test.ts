import * as v from 'valibot';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type AdapterContext,
  ConnectionRejected,
  type ExternalRecord,
  type ListingState,
  type MalformedRecord,
  ProviderCallError,
  type ProviderRequest,
  type ProviderResponse,
  RescheduleRun,
  type Resource,
} from '#shared/bindings/adapter.ts';
import {
  compareSlackTs,
  SLACK_PAGE_SIZE,
  slackAdapter,
  slackChannelLocator,
  slackTsToIso,
} from '#shared/bindings/adapters/slack.ts';
import {
  createProviderHttp,
  emptyProviderStats,
  type ProviderHttpOptions,
  type ProviderStats,
} from '#shared/bindings/provider-http.ts';
import { closePooledAgents } from '#shared/net/pinned-http.ts';
import { findApp, type OAuthApp } from '#shared/oauth/catalog.ts';
import { openAccessToken } from '#shared/oauth/connections.ts';
import { type ConnectionItem, reload } from '#shared/oauth/connections-repo.ts';
import { check } from '#shared/validation.ts';
import { setEnv } from '#test/helpers/env.ts';
import { type FakeSlack, startFakeSlack } from '#test/helpers/fake-slack.ts';
import { fakeApp } from '#test/helpers/oauth-provider.ts';
import { connectThroughFlow, useOAuthEnv } from '#test/helpers/oauth-setup.ts';

// The adapter against a fake of Slack's Web API (test/helpers/fake-slack.ts), through the run's
// real provider client (provider-http.ts): the OAuth app `fake` has the fake Slack as its
// api_base_url, the connection is made through the OAuth flow with the fake OAuth provider, and
// the fake Slack accepts the access tokens that provider issued, so a refused token is refreshed
// at the provider for real. Rate-limit waits are recorded, not slept.

const env = useOAuthEnv();
let slack: FakeSlack;
let app: OAuthApp;
let connection: ConnectionItem;
/** Whether the fake Slack accepts tokens the OAuth provider issues (false: it refuses them all). */
let acceptIssued = true;
let stats: ProviderStats;
let slept: number[];
let ctx: AdapterContext;
let channels = 0;

/** A provider client of one run, as the engine makes it. */
function client(opts: Partial<ProviderHttpOptions> = {}) {
  return createProviderHttp({
    app,
    connection,
    adapter: slackAdapter,
    deadline: Date.now() + 10 * 60_000,
    etags: new Map(),
    stats,
    sleep: async (ms) => {
      slept.push(ms);
    },
    ...opts,
  });
}

beforeAll(async () => {
  setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '100000' });
  slack = await startFakeSlack({ accept: (t) => acceptIssued && env.provider.issued.includes(t) });
  env.writeApps([fakeApp(env.provider, { api_base_url: slack.url, sync_adapter: 'slack' })]);
  app = findApp('fake')!;
  expect(app.api_base_url).toBe(slack.url);
  connection = await connectThroughFlow(env, await env.id.jwt('alice', 'ws1'), 'alice');
});
beforeEach(async () => {
  // A run starts from the stored connection (a test before may have refreshed its token).
  connection = (await reload(connection))!;
  stats = emptyProviderStats();
  slept = [];
  ctx = { http: client() };
});
afterAll(async () => {
  await slack?.stop();
  await closePooledAgents();
});

/** A fresh channel (and its binding's resource) per test. */
function channel(opts: { member?: boolean } = {}): { id: string; resource: Resource } {
  channels += 1;
  const id = `C0TEST${String(channels).padStart(4, '0')}`;
  slack.createChannel(id, opts);
  return { id, resource: v.parse(slackChannelLocator, { type: 'slack_channel', channel: id }) };
}

/** Reads a whole listing page by page, as the engine would. */
async function listAll(resource: Resource, since?: string) {
  const records: ExternalRecord[] = [];
  const malformed: MalformedRecord[] = [];
  const checkpoints: (string | undefined)[] = [];
  let state: ListingState = since === undefined ? {} : { since };
  let pages = 0;
  for (;;) {
    const page = await slackAdapter.listChanges(ctx, resource, state);
    pages += 1;
    records.push(...page.records);
    malformed.push(...page.malformed);
    checkpoints.push(page.checkpoint);
    if (!page.next) break;
    state = { ...state, cursor: page.next };
    if (pages > 100) throw new Error('listing does not end');
  }
  return { records, malformed, checkpoints, pages, checkpoint: checkpoints.at(-1) };
}

const historyCalls = (channelId: string) =>
  slack.calls.filter((c) => c.method === 'conversations.history' && c.params.channel === channelId);

describe('slackAdapter: resource type and catalog', () => {
  it('accepts a channel locator and refuses anything else', () => {
    expect(v.parse(slackChannelLocator, { type: 'slack_channel', channel: 'C0123456789' })).toEqual({
      type: 'slack_channel',
      channel: 'C0123456789',
    });
    expect(check(slackChannelLocator, { type: 'slack_channel', channel: 'G01ABCDEF' }).success).toBe(true);
    for (const bad of [
      { type: 'slack_channel', channel: 'c0123456789' }, // lower case
      { type: 'slack_channel', channel: 'D0123456789' }, // a DM
      { type: 'slack_channel', channel: 'C01' }, // too short
      { type: 'slack_channel', channel: 'C0123456789', team: 'T1' }, // strict
      { type: 'github_repository', channel: 'C0123456789' },
    ]) {
      expect(check(slackChannelLocator, bad).success, JSON.stringify(bad)).toBe(false);
    }
  });

  it('describes one variant of tasks with a read-only catalog except text', () => {
    expect(slackAdapter.id).toBe('slack');
    const [type] = slackAdapter.resourceTypes;
    expect(type?.type).toBe('slack_channel');
    expect(type?.variants).toHaveLength(1);
    const variant = type!.variants[0]!;
    expect(variant).toMatchObject({ kind: 'default', entity: 'task' });
    expect(variant.writable).toEqual({ create: true, update: true, delete: true });
    const byName = Object.fromEntries(variant.fields.map((f) => [f.name, f]));
    expect(Object.keys(byName).sort()).toEqual([
      'edited_at',
      'reactions',
      'reply_count',
      'text',
      'ts',
      'user',
    ]);
    expect(variant.fields.filter((f) => !f.read_only).map((f) => f.name)).toEqual(['text']);
    expect(byName.edited_at?.type).toBe('datetime');
    expect(byName.reactions?.type).toBe('string[]');
    expect(slackAdapter.resourceKey({ type: 'slack_channel', channel: 'C0123456789' })).toBe(
      'slack:C0123456789',
    );
  });

  it('converts and orders Slack timestamps', () => {
    expect(slackTsToIso('1712345678.000200')).toBe('2024-04-05T19:34:38.000Z');
    expect(slackTsToIso('1712345678.123456')).toBe('2024-04-05T19:34:38.123Z');
    expect(compareSlackTs('1712345678.000200', '1712345678.000199')).toBe(1);
    expect(compareSlackTs('999999999.9', '1712345678.000001')).toBe(-1);
    expect(compareSlackTs('1712345678.1', '1712345678.100000')).toBe(0);
  });
});

describe('slackAdapter.listChanges', () => {
  it('pages across cursors: every message once, checkpoint the newest ts', async () => {
    const { id, resource } = channel();
    const seeded = slack.seed(id, 450);

    const all = await listAll(resource);

    expect(all.pages).toBe(3);
    expect(all.records.map((r) => r.id).sort()).toEqual([...seeded].sort());
    expect(all.malformed).toEqual([]);
    expect(all.checkpoint).toBe(seeded.at(-1));
    expect(new Set(all.checkpoints)).toEqual(new Set([seeded.at(-1)])); // carried over pages
    const calls = historyCalls(id);
    expect(calls.map((c) => c.params.limit)).toEqual([String(SLACK_PAGE_SIZE), '200', '200']);
    expect(calls[0]?.params.cursor).toBeUndefined();
    expect(calls[1]?.params.cursor).toEqual(expect.any(String));
    // Slack lists newest first; within a page the adapter hands records oldest first.
    const firstPage = all.records.slice(0, SLACK_PAGE_SIZE).map((r) => r.id);
    expect(firstPage).toEqual(seeded.slice(-SLACK_PAGE_SIZE));
  });

  it('keeps its place when messages are posted between pages', async () => {
    const { id, resource } = channel();
    const seeded = slack.seed(id, 250);

    const first = await slackAdapter.listChanges(ctx, resource, {});
    const late = slack.post(id, 'posted during the listing');
    const second = await slackAdapter.listChanges(ctx, resource, { cursor: first.next });

    const ids = [...first.records, ...second.records].map((r) => r.id);
    expect(ids.sort()).toEqual([...seeded].sort()); // the late one is for the next run
    expect(second.next).toBeUndefined();
    expect(second.checkpoint).toBe(seeded.at(-1));
    expect(compareSlackTs(late.ts, second.checkpoint!)).toBe(1);
  });

  it('reads a message into catalog fields', async () => {
    const { id, resource } = channel();
    const m = slack.post(id, 'Please rotate the *staging* key', { user: 'U0ALICE001' });
    slack.react(id, m.ts, 'eyes');
    slack.react(id, m.ts, 'white_check_mark');
    slack.reply(id, m.ts, 'on it');

    const { records } = await listAll(resource);

    expect(records).toEqual([
      {
        id: m.ts,
        updatedAt: slackTsToIso(m.ts),
        fields: {
          ts: m.ts,
          text: 'Please rotate the *staging* key',
          user: 'U0ALICE001',
          edited_at: null,
          reply_count: 1,
          reactions: ['eyes', 'white_check_mark'],
        },
      },
    ]);
  });

  it('lists only messages after the checkpoint in an incremental run', async () => {
    const { id, resource } = channel();
    const old = slack.seed(id, 5);
    const full = await listAll(resource);
    expect(full.checkpoint).toBe(old.at(-1));

    const added = slack.seed(id, 3, { prefix: 'New' });
    slack.edit(id, old[0]!, 'edited later'); // older than the checkpoint: a full run's business
    const incremental = await listAll(resource, full.checkpoint);

    expect(incremental.records.map((r) => r.id)).toEqual(added);
    expect(incremental.checkpoint).toBe(added.at(-1));
    expect(historyCalls(id).at(-1)?.params.oldest).toBe(full.checkpoint);

    const nothing = await listAll(resource, incremental.checkpoint);
    expect(nothing.records).toEqual([]);
    expect(nothing.checkpoint).toBe(incremental.checkpoint); // never behind `since`
    expect(nothing.pages).toBe(1);
  });

  it('pages an incremental run with more new messages than a page', async () => {
    const { id, resource } = channel();
    const [first] = slack.seed(id, 1);
    const added = slack.seed(id, 401);

    const inc = await listAll(resource, first);

    expect(inc.pages).toBe(3);
    expect(inc.records.map((r) => r.id).sort()).toEqual([...added].sort());
    expect(inc.checkpoint).toBe(added.at(-1));
    expect(historyCalls(id).every((c) => c.params.oldest === first)).toBe(true);
  });

  it('sees edits in a full run: updatedAt from edited.ts', async () => {
    const { id, resource } = channel();
    const [a, b] = slack.seed(id, 2);
    const edited = slack.edit(id, a!, 'Request 1 (updated)');

    const { records } = await listAll(resource);

    const byId = new Map(records.map((r) => [r.id, r]));
    expect(byId.get(a!)).toMatchObject({
      updatedAt: slackTsToIso(edited.edited!.ts),
      fields: { text: 'Request 1 (updated)', edited_at: slackTsToIso(edited.edited!.ts) },
    });
    expect(byId.get(b!)?.updatedAt).toBe(slackTsToIso(b!));
    expect(byId.get(a!)!.updatedAt > slackTsToIso(a!)).toBe(true);
  });

  it('skips thread replies and channel events, keeps bot messages, reports tombstones as deleted', async () => {
    const { id, resource } = channel();
    slack.join(id, 'U0NEWBIE01');
    const parent = slack.post(id, 'Parent request');
    const broadcast = slack.reply(id, parent.ts, 'a reply also sent to the channel', { broadcast: true });
    slack.reply(id, parent.ts, 'a plain reply');
    const bot = slack.post(id, 'Posted by an app', {
      subtype: 'bot_message',
      bot_id: 'B0OTHER001',
      user: undefined,
    });
    slack.post(id, 'set the topic', { subtype: 'channel_topic' });
    const doomed = slack.post(id, 'Parent with replies, then deleted');
    slack.reply(id, doomed.ts, 'keeps the thread');
    slack.deleteMessage(id, doomed.ts);
    const gone = slack.post(id, 'Deleted without replies');
    slack.deleteMessage(id, gone.ts);
    const last = slack.join(id, 'U0NEWBIE02');

    const all = await listAll(resource);

    const ids = all.records.map((r) => r.id);
    expect(ids).toEqual([parent.ts, bot.ts, doomed.ts]);
    expect(ids).not.toContain(broadcast.ts);
    expect(all.records[0]?.fields.reply_count).toBe(2);
    expect(all.records[1]?.fields.user).toBe('B0OTHER001');
    expect(all.records[2]).toMatchObject({ id: doomed.ts, deleted: true });
    expect(all.malformed).toEqual([]);
    expect(all.checkpoint).toBe(last.ts); // skipped messages move the checkpoint too
  });

  it('reports malformed messages and reads the rest of the page', async () => {
    const { id, resource } = channel();
    const [a, b, c, d] = slack.seed(id, 4);
    slack.corrupt(id, b!, { type: 'message', text: 'no ts here' });
    slack.corrupt(id, c!, 'not an object');
    slack.corrupt(id, d!, { type: 'message', ts: 'yesterday', text: 'bad ts' });

    const all = await listAll(resource);

    expect(all.records.map((r) => r.id)).toEqual([a]);
    expect(all.malformed).toEqual(
      expect.arrayContaining([
        { externalId: null, error: 'The message has no ts' },
        { externalId: null, error: 'The message is not an object' },
        { externalId: 'yesterday', error: 'The message ts is not a Slack timestamp' },
      ]),
    );
    expect(all.malformed).toHaveLength(3);
  });

  it('falls back to a latest bound when Slack says has_more without a cursor', async () => {
    const pages: ProviderResponse[] = [
      {
        status: 200,
        headers: {},
        text: '',
        json: {
          ok: true,
          has_more: true,
          messages: [{ ts: '1700000003.000000' }, { ts: '1700000002.000000' }],
        },
      },
      {
        status: 200,
        headers: {},
        text: '',
        json: { ok: true, has_more: false, messages: [{ ts: '1700000001.000000' }] },
      },
    ];
    const seen: ProviderRequest[] = [];
    const stub: AdapterContext = {
      http: {
        request: async (req) => {
          seen.push(req);
          return pages.shift()!;
        },
      },
    };
    const resource = { type: 'slack_channel', channel: 'C0STUB0001' };

    const p1 = await slackAdapter.listChanges(stub, resource, {});
    const p2 = await slackAdapter.listChanges(stub, resource, { cursor: p1.next });

    expect(seen[1]?.query).toMatchObject({ latest: '1700000002.000000', cursor: undefined });
    expect(p2.next).toBeUndefined();
    expect(p2.checkpoint).toBe('1700000003.000000');
    expect([...p1.records, ...p2.records].map((r) => r.id)).toEqual([
      '1700000002.000000',
      '1700000003.000000',
      '1700000001.000000',
    ]);
  });

  it('refuses a cursor or checkpoint it did not issue', async () => {
    const { resource } = channel();
    await expect(slackAdapter.listChanges(ctx, resource, { cursor: 'bm90IG91cnM' })).rejects.toBeInstanceOf(
      ProviderCallError,
    );
    await expect(slackAdapter.listChanges(ctx, resource, { since: '2024-01-01' })).rejects.toThrow(
      /not a Slack ts/,
    );
  });
});

describe('slackAdapter.fetchRecord', () => {
  it('finds one message by ts with a one-message history window', async () => {
    const { id, resource } = channel();
    const [, b] = slack.seed(id, 3);

    const record = await slackAdapter.fetchRecord(ctx, resource, b!);

    expect(record).toMatchObject({ id: b, fields: { ts: b, text: 'Request 2' } });
    expect(historyCalls(id).at(-1)?.params).toMatchObject({
      channel: id,
      latest: b,
      oldest: b,
      inclusive: 'true',
      limit: '1',
    });
  });

  it("answers 'gone' for a deleted message, a tombstone, an unknown ts and a channel event", async () => {
    const { id, resource } = channel();
    const [a] = slack.seed(id, 1);
    const parent = slack.post(id, 'thread parent');
    slack.reply(id, parent.ts, 'reply');
    const joined = slack.join(id, 'U0NEWBIE03');
    slack.deleteMessage(id, a!);
    slack.deleteMessage(id, parent.ts);

    expect(await slackAdapter.fetchRecord(ctx, resource, a!)).toBe('gone');
    expect(await slackAdapter.fetchRecord(ctx, resource, parent.ts)).toBe('gone');
    expect(await slackAdapter.fetchRecord(ctx, resource, '1000000000.000001')).toBe('gone');
    expect(await slackAdapter.fetchRecord(ctx, resource, joined.ts)).toBe('gone');
    await expect(slackAdapter.fetchRecord(ctx, resource, 'not-a-ts')).rejects.toMatchObject({
      name: 'ProviderCallError',
      recordLevel: true,
    });
  });
});

describe('slackAdapter writes', () => {
  it('creates, updates and deletes a message (round trip)', async () => {
    const { id, resource } = channel();

    const created = await slackAdapter.createRecord(ctx, resource, { text: 'Deploy the hotfix' });
    expect(created).toMatchObject({
      fields: {
        text: 'Deploy the hotfix',
        user: slack.botUser,
        edited_at: null,
        reply_count: 0,
        reactions: [],
      },
    });
    expect(created.id).toBe(created.fields.ts);
    expect(slack.messages(id).map((m) => m.ts)).toEqual([created.id]);
    expect(slack.calls.at(-1)).toMatchObject({ method: 'chat.postMessage', httpMethod: 'POST', status: 200 });

    const listed = await listAll(resource);
    expect(listed.records).toEqual([created]);

    const updated = await slackAdapter.updateRecord(ctx, resource, created.id, {
      text: 'Deploy the hotfix (v2)',
    });
    const stored = slack.messages(id)[0]!;
    expect(stored.text).toBe('Deploy the hotfix (v2)');
    expect(updated).toMatchObject({
      id: created.id,
      updatedAt: slackTsToIso(stored.edited!.ts),
      fields: { text: 'Deploy the hotfix (v2)', edited_at: slackTsToIso(stored.edited!.ts) },
    });
    expect(updated.updatedAt >= created.updatedAt).toBe(true);
    // Slack's chat.update answer has no edited.ts: the adapter reads the message back.
    expect(slack.calls.slice(-2).map((c) => c.method)).toEqual(['chat.update', 'conversations.history']);

    await slackAdapter.deleteRecord(ctx, resource, created.id);
    expect(slack.messages(id)).toEqual([]);
    expect(await slackAdapter.fetchRecord(ctx, resource, created.id)).toBe('gone');
    // Deleting again: Slack says message_not_found, which means done.
    await expect(slackAdapter.deleteRecord(ctx, resource, created.id)).resolves.toBeUndefined();
    expect(slack.calls.at(-1)).toMatchObject({ method: 'chat.delete', error: 'message_not_found' });
  });

  it('sends JSON to chat methods and the fake accepts form posts too', async () => {
    const { id } = channel();
    await slackAdapter.createRecord(ctx, { type: 'slack_channel', channel: id }, { text: 'json' });
    const res = await ctx.http.request({
      method: 'POST',
      path: '/chat.postMessage',
      form: true,
      body: { channel: id, text: 'form' },
    });
    expect(res.json).toMatchObject({ ok: true, channel: id, message: { text: 'form' } });
    expect(slack.messages(id).map((m) => m.text)).toEqual(['json', 'form']);
  });

  it('fails the record for an empty text, a message of someone else, a message gone', async () => {
    const { id, resource } = channel();
    const [human] = slack.seed(id, 1);

    const calls = slack.calls.length;
    await expect(slackAdapter.createRecord(ctx, resource, { text: '  ' })).rejects.toMatchObject({
      name: 'ProviderCallError',
      recordLevel: true,
    });
    expect(slack.calls.length).toBe(calls); // refused before any call

    await expect(slackAdapter.updateRecord(ctx, resource, human!, { text: 'x' })).rejects.toMatchObject({
      name: 'ProviderCallError',
      recordLevel: true,
      message: expect.stringContaining('cant_update_message'),
    });
    await expect(slackAdapter.deleteRecord(ctx, resource, human!)).rejects.toMatchObject({
      recordLevel: true,
      message: expect.stringContaining('cant_delete_message'),
    });
    await expect(
      slackAdapter.updateRecord(ctx, resource, '1000000000.000001', { text: 'x' }),
    ).rejects.toMatchObject({ recordLevel: true, message: expect.stringContaining('message_not_found') });
  });
});

describe('slackAdapter errors: ok:false classified', () => {
  it('refreshes once on token_expired (HTTP 200) at the OAuth provider and goes on with the new token', async () => {
    const { id, resource } = channel();
    slack.seed(id, 2);
    const before = await openAccessToken(connection);
    slack.expireToken(before);
    const refreshes = env.provider.calls.refresh;

    const { records } = await listAll(resource);

    expect(records).toHaveLength(2);
    expect(env.provider.calls.refresh).toBe(refreshes + 1);
    const after = await openAccessToken((await reload(connection))!);
    expect(after).not.toBe(before);
    expect(historyCalls(id).map((c) => [c.status, c.error, c.token])).toEqual([
      [200, 'token_expired', before],
      [200, undefined, after],
    ]);
  });

  it('rejects the connection when the refreshed token is refused too', async () => {
    const { id, resource } = channel();
    slack.revokeToken(await openAccessToken(connection));
    acceptIssued = false;

    try {
      await expect(slackAdapter.listChanges(ctx, resource, {})).rejects.toBeInstanceOf(ConnectionRejected);
      expect(historyCalls(id).map((c) => c.error)).toEqual(['token_revoked', 'invalid_auth']);
    } finally {
      acceptIssued = true;
    }
  });

  it('reads the auth errors as token refusals, and nothing else', () => {
    const res = (json: unknown, status = 200): ProviderResponse => ({ status, headers: {}, json, text: '' });
    for (const error of [
      'invalid_auth',
      'token_revoked',
      'token_expired',
      'not_authed',
      'account_inactive',
    ]) {
      expect(slackAdapter.authFailed!(res({ ok: false, error })), error).toBe(true);
    }
    expect(slackAdapter.authFailed!(res({}, 401))).toBe(true);
    for (const error of ['channel_not_found', 'missing_scope', 'ratelimited', 'message_not_found']) {
      expect(slackAdapter.authFailed!(res({ ok: false, error })), error).toBe(false);
    }
    expect(slackAdapter.authFailed!(res({ ok: true }))).toBe(false);
  });

  it('fails the run for channel_not_found, not_in_channel and missing_scope', async () => {
    const unknown = { type: 'slack_channel', channel: 'C0NOSUCH01' };
    await expect(slackAdapter.listChanges(ctx, unknown, {})).rejects.toMatchObject({
      name: 'ProviderCallError',
      status: 200,
      recordLevel: false,
      message: 'Slack conversations.history: channel_not_found',
    });
    // Run-level whatever the operation: a write to a missing channel fails every record alike.
    await expect(slackAdapter.createRecord(ctx, unknown, { text: 'x' })).rejects.toMatchObject({
      recordLevel: false,
    });

    const outside = channel({ member: false });
    await expect(slackAdapter.listChanges(ctx, outside.resource, {})).rejects.toMatchObject({
      recordLevel: false,
      message: expect.stringContaining('not_in_channel'),
    });

    const { resource } = channel();
    slack.failNext('missing_scope', {
      method: 'conversations.history',
      extra: { needed: 'channels:history', provided: 'chat:write' },
    });
    await expect(slackAdapter.fetchRecord(ctx, resource, '1700000000.000100')).rejects.toMatchObject({
      recordLevel: false,
      message: 'Slack conversations.history: missing_scope (needs channels:history)',
    });
  });

  it('fails the record for another ok:false of a write, the run for one of a listing', async () => {
    const { id, resource } = channel();
    slack.failNext('invalid_arguments', { method: 'chat.postMessage' });
    await expect(slackAdapter.createRecord(ctx, resource, { text: 'x' })).rejects.toMatchObject({
      recordLevel: true,
      message: 'Slack chat.postMessage: invalid_arguments',
    });
    slack.failNext('invalid_arguments', { method: 'conversations.history' });
    await expect(slackAdapter.listChanges(ctx, resource, {})).rejects.toMatchObject({ recordLevel: false });
    // A wrong base URL (Slack: 404 unknown_method) fails the run, write or not.
    const stub: AdapterContext = {
      http: {
        request: async () => ({
          status: 404,
          headers: {},
          json: { ok: false, error: 'unknown_method' },
          text: '',
        }),
      },
    };
    await expect(slackAdapter.createRecord(stub, resource, { text: 'x' })).rejects.toMatchObject({
      status: 404,
      recordLevel: false,
    });
    expect(slack.messages(id)).toEqual([]);
  });

  it('fails the run on a server error or an answer that is not Slack JSON', async () => {
    const { resource } = channel();
    slack.failNext('fatal_error', { status: 500 });
    await expect(slackAdapter.listChanges(ctx, resource, {})).rejects.toMatchObject({
      name: 'ProviderCallError',
      status: 500,
      recordLevel: false,
    });
    const stub: AdapterContext = {
      http: { request: async () => ({ status: 200, headers: {}, json: undefined, text: '<html>' }) },
    };
    await expect(slackAdapter.listChanges(stub, resource, {})).rejects.toThrow(/without a JSON object/);
  });
});

describe('slackAdapter.rateLimit', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  const limited = (headers: Record<string, string> = {}, status = 429): ProviderResponse => ({
    status,
    headers,
    json: { ok: false, error: 'ratelimited' },
    text: '',
  });

  it('waits Retry-After seconds on a 429 that names them', () => {
    expect(slackAdapter.rateLimit(limited({ 'retry-after': '7' }), now, 0)).toEqual({
      waitMs: 7_000,
      kind: 'retry_after',
    });
    expect(slackAdapter.rateLimit(limited({ 'retry-after': '0' }), now, 0)?.waitMs).toBe(1_000);
    // An ok:false ratelimited with HTTP 200 is a rate limit too.
    expect(slackAdapter.rateLimit(limited({ 'retry-after': '3' }, 200), now, 0)?.waitMs).toBe(3_000);
  });

  it('backs off 30 s doubling per earlier attempt, capped at 5 minutes, without the header', () => {
    // `attempt` counts the rate-limited answers before this one (provider-http starts at 0).
    const waits = [0, 1, 2, 3, 4, 5, 20].map((a) => slackAdapter.rateLimit(limited(), now, a)?.waitMs);
    expect(waits).toEqual([30_000, 60_000, 120_000, 240_000, 300_000, 300_000, 300_000]);
    expect(slackAdapter.rateLimit(limited(), now, 0)?.kind).toBe('primary');
    expect(slackAdapter.rateLimit(limited({ 'retry-after': 'soon' }), now, 0)?.waitMs).toBe(30_000);
  });

  it('is no rate limit otherwise', () => {
    const res = (status: number, json: unknown): ProviderResponse => ({
      status,
      headers: {},
      json,
      text: '',
    });
    expect(slackAdapter.rateLimit(res(200, { ok: true }), now, 1)).toBeUndefined();
    expect(
      slackAdapter.rateLimit(res(200, { ok: false, error: 'channel_not_found' }), now, 1),
    ).toBeUndefined();
    expect(slackAdapter.rateLimit(res(503, undefined), now, 1)).toBeUndefined();
  });

  it('is waited out through the client: 429 with Retry-After from the fake, then the page', async () => {
    const { id, resource } = channel();
    slack.seed(id, 3);
    slack.rateLimitNext(2, 2);

    const page = await slackAdapter.listChanges(ctx, resource, {});

    expect(page.records).toHaveLength(3);
    expect(slept).toEqual([2_000, 2_000]);
    expect(stats).toMatchObject({ provider_calls: 3, rate_limit_waits: 2, rate_limit_wait_ms: 4_000 });
    expect(historyCalls(id).map((c) => c.status)).toEqual([429, 429, 200]);
  });

  it('backs off through the client without Retry-After: 30 s, then 60 s', async () => {
    const { id, resource } = channel();
    slack.seed(id, 1);
    slack.rateLimitNext(2);

    const patient = client({ maxInlineWaitMs: 5 * 60_000 });
    const page = await slackAdapter.listChanges({ http: patient }, resource, {});

    expect(page.records).toHaveLength(1);
    expect(slept).toEqual([30_000, 60_000]);
  });

  it('reschedules the run when the wait is longer than the client may sit out', async () => {
    const { resource } = channel();
    slack.rateLimitNext(1, 60);

    const err = await slackAdapter.listChanges(ctx, resource, {}).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(RescheduleRun);
    expect(err).toMatchObject({ kind: 'retry_after' });
    expect((err as RescheduleRun).resumeAt).toBeGreaterThanOrEqual(Date.now() + 55_000);
    expect(slept).toEqual([]);

    slack.rateLimitNext(1); // no header: 30 s is more than the 20 s sat out inline
    await expect(slackAdapter.listChanges(ctx, resource, {})).rejects.toMatchObject({
      name: 'RescheduleRun',
      kind: 'primary',
    });
  });
});

describe('fake Slack: conversations.history as documented', () => {
  it('caps limit at 999, defaults to 100, honours oldest/latest/inclusive', async () => {
    const { id } = channel();
    const ts = slack.seed(id, 1000);
    const get = async (query: Record<string, string | number>) =>
      (await ctx.http.request({ path: '/conversations.history', query: { channel: id, ...query } })).json as {
        messages: { ts: string }[];
        has_more: boolean;
        response_metadata: { next_cursor: string };
      };

    const big = await get({ limit: 5000 });
    expect(big.messages).toHaveLength(999);
    expect(big.has_more).toBe(true);
    expect(big.messages[0]?.ts).toBe(ts.at(-1)); // newest first
    expect((await get({})).messages).toHaveLength(100);

    const window = await get({ oldest: ts[10]!, latest: ts[14]! });
    expect(window.messages.map((m) => m.ts)).toEqual([ts[13], ts[12], ts[11]]);
    const inclusive = await get({ oldest: ts[10]!, latest: ts[14]!, inclusive: 'true' });
    expect(inclusive.messages.map((m) => m.ts)).toEqual([ts[14], ts[13], ts[12], ts[11], ts[10]]);

    const last = await get({ oldest: ts[995]! });
    expect(last).toMatchObject({ has_more: false, response_metadata: { next_cursor: '' } });
    expect(last.messages).toHaveLength(4);
  });
});
