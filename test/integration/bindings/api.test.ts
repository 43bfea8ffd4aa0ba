/**
 * The HTTP layer of data sync bindings, through the handlers: create (every refusal), list, read,
 * change, delete, start and cancel runs (the worker is not run here), preview, PronaFlow's target
 * fields and an app's resource types. The GitHub adapter reads a fake GitHub on 127.0.0.1.
 */
import { PutCommand, QueryCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { handler as cancelRunH } from '#functions/bindings/cancel-binding-run.ts';
import { handler as createH } from '#functions/bindings/create-binding.ts';
import { handler as deleteH } from '#functions/bindings/delete-binding.ts';
import { handler as getH } from '#functions/bindings/get-binding.ts';
import { handler as getRunH } from '#functions/bindings/get-binding-run.ts';
import { handler as runsH } from '#functions/bindings/list-binding-runs.ts';
import { handler as targetsH } from '#functions/bindings/list-binding-targets.ts';
import { handler as listH } from '#functions/bindings/list-bindings.ts';
import { handler as previewH } from '#functions/bindings/preview-binding.ts';
import { handler as syncH } from '#functions/bindings/sync-binding.ts';
import { handler as updateH } from '#functions/bindings/update-binding.ts';
import { handler as grantH } from '#functions/consents/grant-consent.ts';
import { handler as revokeH } from '#functions/consents/revoke-consent.ts';
import { handler as connectH } from '#functions/oauth/create-connection.ts';
import { handler as resourcesH } from '#functions/oauth/get-app-resources.ts';
import { routes } from '#functions/routes.ts';
import { handler as createTokenH } from '#functions/tokens/create-token.ts';
import { bindingKeys } from '#shared/bindings/keys.ts';
import * as store from '#shared/bindings/store.ts';
import { targetFields } from '#shared/bindings/targets.ts';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { setEnv, useTestSqs } from '#test/helpers/env.ts';
import { type FakeGitHub, startFakeGitHub } from '#test/helpers/fake-github.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { fakeApp } from '#test/helpers/oauth-provider.ts';
import { useOAuthEnv } from '#test/helpers/oauth-setup.ts';

// findBinding as written, but a test can hand the service a stale copy once (a concurrent change).
vi.mock('#shared/bindings/store.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('#shared/bindings/store.ts')>();
  return { ...original, findBinding: vi.fn(original.findBinding) };
});

const env = useOAuthEnv();
useTestSqs();
let gh: FakeGitHub;
let alice: string; // member of ws1
let carol: string; // another member of ws1
let bob: string; // admin of ws2
let aliceConn: string;

const WS = 'ws-bind';
const repo = { type: 'github_repository', owner: 'acme', repo: 'app', kind: 'issues' };
const statusMap = {
  type: 'value_map',
  map: { open: 'todo', closed: 'done' },
  inverse: { todo: 'open', in_progress: 'open', in_review: 'open', done: 'closed', cancelled: 'closed' },
};
const mapping = [
  { source: 'title', target: 'title' },
  { source: 'body', target: 'description' },
  { source: 'state', target: 'status', transform: statusMap },
  { source: 'html_url', target: 'external_url' },
];
const body = (conn: string, over: Record<string, unknown> = {}) => ({
  oauth_connection_id: conn,
  resource: repo,
  entity: 'task',
  // A task binding that writes out names the project it reads.
  project_id: 'prj_test',
  direction: 'BIDIRECTIONAL',
  field_mapping: mapping,
  ...over,
});

const connect = async (token: string, app = 'fake-github') => {
  const res = await invoke(connectH, routes.createConnection, {
    token,
    body: { oauth_app_id: app, access_token: `gho_${Math.random().toString(36).slice(2)}` },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
};
const consent = async (token: string, conn: string) => {
  const res = await invoke(grantH, routes.grantConsent, {
    token,
    body: { consent_type: 'THIRD_PARTY', resource_type: 'oauth_connection', resource_id: conn },
  });
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  return res.body.id as string;
};
const create = (token: string, b: unknown) => invoke(createH, routes.createBinding, { token, body: b });
const created = async (token: string, b: unknown) => {
  const res = await create(token, b);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
};
const get = (token: string, id: string) => invoke(getH, routes.getBinding, { token, params: { id } });
const patch = (token: string, id: string, b: unknown) =>
  invoke(updateH, routes.updateBinding, { token, params: { id }, body: b });
const del = (token: string, id: string) => invoke(deleteH, routes.deleteBinding, { token, params: { id } });
const sync = (token: string, id: string, b?: unknown) =>
  invoke(syncH, routes.syncBinding, { token, params: { id }, ...(b === undefined ? {} : { body: b }) });
const scan = async () => (await db().send(new ScanCommand({ TableName: tableName() }))).Items ?? [];
/** Each repository can be bound once per connection and entity: a fresh one per test. */
let repoSeq = 0;
const freshRepo = () => ({ ...repo, repo: `app-${++repoSeq}` });

beforeAll(async () => {
  setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '100000' });
  gh = await startFakeGitHub({ acceptAnyToken: true });
  env.writeApps([
    fakeApp(env.provider),
    fakeApp(env.provider, { id: 'fake-github', sync_adapter: 'github', api_base_url: gh.url }),
    fakeApp(env.provider, { id: 'fake-nobase', sync_adapter: 'github' }),
  ]);
  alice = await env.id.jwt('alice', [{ id: WS, role: 'member' }]);
  carol = await env.id.jwt('carol', [{ id: WS, role: 'member' }]);
  bob = await env.id.jwt('bob', [{ id: 'ws-other', role: 'admin' }]);
  aliceConn = await connect(alice);
  await consent(alice, aliceConn);
});
afterAll(async () => {
  await gh?.stop();
});

describe('POST /bindings', () => {
  it('creates an ACTIVE binding with its claim, schedule marker and view', async () => {
    const res = await create(
      alice,
      body(aliceConn, {
        resource: { ...repo, repo: 'created' },
        project_id: 'prj_1',
        schedule: { every_minutes: 15 },
        conflict_policy: 'newest_wins',
      }),
    );
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const b = res.body;
    expect(b).toMatchObject({
      id: expect.stringMatching(/^bnd_/),
      oauth_connection_id: aliceConn,
      oauth_app_id: 'fake-github',
      resource: { type: 'github_repository', owner: 'acme', repo: 'created', kind: 'issues' },
      entity: 'task',
      project_id: 'prj_1',
      direction: 'BIDIRECTIONAL',
      schedule: { every_minutes: 15 },
      conflict_policy: 'newest_wins',
      status: 'ACTIVE',
      status_reason: null,
      active_run_id: null,
      last_run: null,
      checkpoint: null,
      created_by: 'alice',
    });
    expect(Date.parse(b.next_run_at) - Date.parse(b.created_at)).toBe(15 * 60_000);
    expect(b.field_mapping[0]).toEqual({ source: 'title', target: 'title', inbound: true, outbound: true });
    expect(b.field_mapping[3]).toMatchObject({
      source: 'html_url',
      inbound: true,
      outbound: false,
      one_way_reason: expect.stringContaining('read-only'),
    });
    expect(JSON.stringify(b)).not.toMatch(/gho_|token|pk|OAUTHCONN/);

    const items = await scan();
    const claim = items.find((i) => i.sk === `BINDRES#task#acme/created#issues`);
    expect(claim).toMatchObject({ binding_id: b.id, pk: `OAUTHCONN#${aliceConn}` });
    const marker = items.find((i) => i.sk === `BINDSCHED#${b.id}`);
    expect(marker).toMatchObject({
      entity: 'SyncSchedule',
      binding_id: b.id,
      connection_id: aliceConn,
      next_run_at: b.next_run_at,
      gsi1pk: 'BINDDUE',
      gsi1sk: `${b.next_run_at}#${b.id}`,
    });
    const item = items.find((i) => i.sk === `BINDING#${b.id}`);
    expect(item).toMatchObject({
      version: 1,
      etags: {},
      adapter: 'github',
      resource_key: 'acme/created#issues',
    });

    const read = await get(alice, b.id);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(b);
    // Any member of the workspace sees it; another workspace does not.
    expect((await get(carol, b.id)).status).toBe(200);
    expect((await get(bob, b.id)).status).toBe(404);
  });

  it('needs a project for a task binding that writes out (every task of the workspace would go)', async () => {
    for (const direction of ['OUTBOUND', 'BIDIRECTIONAL']) {
      const res = await invoke(createH, routes.createBinding, {
        token: alice,
        body: body(aliceConn, { resource: freshRepo(), direction, project_id: undefined }),
      });
      expect(res.status, direction).toBe(400);
      expect(res.body.errors).toEqual([
        { path: 'body.project_id', message: `Required for ${direction} task bindings` },
      ]);
    }
  });

  it('defaults: no project, no schedule (no marker), provider_wins', async () => {
    const b = await created(
      alice,
      body(aliceConn, { resource: freshRepo(), direction: 'INBOUND', project_id: undefined }),
    );
    expect(b).toMatchObject({
      project_id: null,
      schedule: null,
      next_run_at: null,
      conflict_policy: 'provider_wins',
    });
    expect((await scan()).some((i) => i.sk === `BINDSCHED#${b.id}`)).toBe(false);
  });

  it('names an unknown source field, an unknown target and a bad transform, all at once', async () => {
    const res = await create(
      alice,
      body(aliceConn, {
        resource: freshRepo(),
        field_mapping: [
          { source: 'titel', target: 'title' },
          { source: 'body', target: 'descr' },
          { source: 'state', target: 'status', transform: { type: 'concat', separator: ',' } },
        ],
      }),
    );
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
    const errors = res.body.errors as { path: string; message: string }[];
    expect(errors).toEqual(
      expect.arrayContaining([
        { path: 'body.field_mapping.0.source', message: expect.stringContaining("'titel'") },
        { path: 'body.field_mapping.1.target', message: expect.stringContaining("'descr'") },
        { path: 'body.field_mapping.2.source', message: expect.stringContaining('concat') },
      ]),
    );
  });

  it('refuses a transform of a shape no transform has', async () => {
    const res = await create(
      alice,
      body(aliceConn, {
        field_mapping: [{ source: 'title', target: 'title', transform: { type: 'upper' } }],
      }),
    );
    expect(res.status).toBe(400);
    expect(res.body.errors[0].path).toMatch(/^body\.field_mapping\.0\.transform/);
  });

  it('names the bad locator field, an unknown resource type (listing the known) and the wrong entity', async () => {
    const locator = await create(alice, body(aliceConn, { resource: { ...repo, owner: 'not a login!' } }));
    expect(locator.status).toBe(400);
    expect(locator.body.errors).toEqual([
      { path: 'body.resource.owner', message: expect.stringContaining('GitHub user or organization') },
    ]);
    const extra = await create(alice, body(aliceConn, { resource: { ...repo, branch: 'main' } }));
    expect(extra.status).toBe(400);
    expect(extra.body.errors[0].path).toMatch(/^body\.resource/);

    const type = await create(alice, body(aliceConn, { resource: { type: 'gitlab_project', id: 1 } }));
    expect(type.status).toBe(400);
    expect(type.body.errors).toEqual([
      { path: 'body.resource.type', message: expect.stringContaining("known: 'github_repository'") },
    ]);

    const entity = await create(alice, body(aliceConn, { resource: { ...repo, kind: 'issue_comments' } }));
    expect(entity.status).toBe(400);
    expect(entity.body.errors).toEqual([
      { path: 'body.entity', message: expect.stringContaining("syncs with 'comment'") },
    ]);
  });

  it('refuses a direction that needs writes the provider does not allow', async () => {
    const pulls = { ...freshRepo(), kind: 'pull_requests' };
    const res = await create(
      alice,
      body(aliceConn, {
        resource: pulls,
        direction: 'OUTBOUND',
        field_mapping: [
          { source: 'title', target: 'title' },
          { source: 'state', target: 'status', transform: statusMap },
        ],
      }),
    );
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: 'body.direction', message: expect.stringContaining('create') }]);
  });

  it('refuses an app without a sync adapter (or an API base URL), naming it', async () => {
    const plain = await connect(alice, 'fake');
    await consent(alice, plain);
    const res = await create(alice, body(plain));
    expect(res.status).toBe(400);
    expect(res.body.detail).toContain("'fake'");
    expect(res.body.errors[0]).toMatchObject({ path: 'body.oauth_connection_id' });
    const nobase = await connect(alice, 'fake-nobase');
    await consent(alice, nobase);
    const noBase = await create(alice, body(nobase));
    expect(noBase.status).toBe(400);
    expect(noBase.body.errors[0]).toMatchObject({
      path: 'body.oauth_connection_id',
      message: expect.stringContaining('api_base_url'),
    });
  });

  it("answers 404 for another user's or another workspace's connection", async () => {
    expect((await create(carol, body(aliceConn))).status).toBe(404);
    expect((await create(bob, body(aliceConn))).status).toBe(404);
    expect((await create(alice, body('conn_nope'))).status).toBe(404);
  });

  it('answers 403 naming the consent when the THIRD_PARTY consent is missing', async () => {
    const conn = await connect(carol);
    const res = await create(carol, body(conn, { resource: freshRepo() }));
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({
      type: 'https://docs.pronaflow.com/integration/problems/consent-required',
      status: 403,
      reason: 'consent_required',
      consent_required: { consent_type: 'THIRD_PARTY', resource_type: 'oauth_connection', resource_id: conn },
    });
    expect(res.body.detail).toContain('POST /v1/integration/consents');
    expect((await scan()).some((i) => i.entity === 'SyncBinding' && i.connection_id === conn)).toBe(false);
  });

  it('answers 409 for an expired connection', async () => {
    const conn = await connect(carol);
    await consent(carol, conn);
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.oauthConnection(WS, 'carol', conn),
        UpdateExpression: 'SET #s = :e',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':e': 'EXPIRED' },
      }),
    );
    const res = await create(carol, body(conn, { resource: freshRepo() }));
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ connection_id: conn });
  });

  it('answers 409 naming the binding for the same resource and entity on the connection', async () => {
    const r = freshRepo();
    const first = await created(alice, body(aliceConn, { resource: r }));
    const again = await create(
      alice,
      body(aliceConn, { resource: { ...r, owner: 'ACME' }, direction: 'INBOUND' }),
    );
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ reason: 'binding_exists', binding_id: first.id });
    expect(again.body.detail).toMatch(/binding of this resource and entity exists on this connection/);
    // Another kind of the same repository is another resource.
    await created(
      alice,
      body(aliceConn, { resource: { ...r, kind: 'pull_requests' }, direction: 'INBOUND' }),
    );
  });

  it('answers 409 at the workspace cap, writing nothing', async () => {
    const capped = await env.id.jwt('dave', [{ id: 'ws-cap', role: 'member' }]);
    const conn = await connect(capped);
    await consent(capped, conn);
    setEnv({ SYNC_MAX_BINDINGS_PER_WORKSPACE: '2' });
    try {
      await created(capped, body(conn, { resource: freshRepo() }));
      const second = await created(capped, body(conn, { resource: freshRepo() }));
      const third = await create(
        capped,
        body(conn, { resource: freshRepo(), schedule: { every_minutes: 5 } }),
      );
      expect(third.status).toBe(409);
      expect(third.body).toMatchObject({ reason: 'workspace_binding_limit', limit: 2 });
      const mine = (await scan()).filter((i) => i.pk === `OAUTHCONN#${conn}`);
      expect(mine.filter((i) => i.entity === 'SyncBinding')).toHaveLength(2);
      expect(mine.filter((i) => i.entity === 'SyncResourceClaim')).toHaveLength(2);
      expect(mine.filter((i) => i.entity === 'SyncSchedule')).toHaveLength(0);
      // Deleting one frees its place.
      expect((await del(capped, second.id)).status).toBe(204);
      await created(capped, body(conn, { resource: freshRepo() }));
    } finally {
      setEnv({ SYNC_MAX_BINDINGS_PER_WORKSPACE: undefined });
    }
  });
});

describe('who may change bindings', () => {
  it('a read:integrations token reads but cannot change (403 required_scopes); write:integrations creates', async () => {
    const token = async (scopes: string[]) => {
      const res = await invoke(createTokenH, routes.createToken, {
        token: alice,
        body: { name: scopes[0], scopes },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.token as string;
    };
    const reader = await token(['read:integrations']);
    const writer = await token(['write:integrations']);
    const b = await created(writer, body(aliceConn, { resource: freshRepo() }));
    expect(b.created_by).toBe('alice');
    expect((await get(reader, b.id)).status).toBe(200);
    const refused = await create(reader, body(aliceConn, { resource: freshRepo() }));
    expect(refused.status).toBe(403);
    expect(refused.body.required_scopes).toEqual(['write:integrations']);
    expect((await patch(reader, b.id, { active: false })).status).toBe(403);
    expect((await del(reader, b.id)).status).toBe(403);
    // A member's session (no admin role) may change bindings of the workspace.
    expect((await patch(carol, b.id, { conflict_policy: 'newest_wins' })).status).toBe(200);
  });

  it('a count above the truth (bindings gone with their connection) is corrected at the cap', async () => {
    const user = await env.id.jwt('fred', [{ id: 'ws-drift', role: 'member' }]);
    const conn = await connect(user);
    await consent(user, conn);
    await db().send(
      new PutCommand({
        TableName: tableName(),
        Item: { pk: keys.workspace('ws-drift'), sk: 'BINDING_COUNT', entity: 'SyncBindingCount', count: 2 },
      }),
    );
    setEnv({ SYNC_MAX_BINDINGS_PER_WORKSPACE: '2' });
    try {
      await created(user, body(conn, { resource: freshRepo() }));
      await created(user, body(conn, { resource: freshRepo() }));
      expect((await create(user, body(conn, { resource: freshRepo() }))).status).toBe(409);
    } finally {
      setEnv({ SYNC_MAX_BINDINGS_PER_WORKSPACE: undefined });
    }
  });
});

describe('GET /bindings', () => {
  let ids: string[];
  let otherConn: string;
  const user = 'erin';
  let erin: string;
  beforeAll(async () => {
    erin = await env.id.jwt(user, [{ id: 'ws-list', role: 'member' }]);
    const c1 = await connect(erin);
    otherConn = await connect(erin);
    await consent(erin, c1);
    await consent(erin, otherConn);
    ids = [];
    for (let i = 0; i < 3; i++) ids.push((await created(erin, body(c1, { resource: freshRepo() }))).id);
    ids.push((await created(erin, body(otherConn, { resource: freshRepo() }))).id);
    const paused = await patch(erin, ids[1] as string, { active: false });
    expect(paused.status).toBe(200);
  });

  it('pages oldest first', async () => {
    const p1 = await invoke(listH, routes.listBindings, { token: erin, query: { limit: '3' } });
    expect(p1.status).toBe(200);
    expect(p1.body.data.map((b: { id: string }) => b.id)).toEqual(ids.slice(0, 3));
    const p2 = await invoke(listH, routes.listBindings, {
      token: erin,
      query: { limit: '3', cursor: p1.body.next_cursor },
    });
    expect(p2.body.data.map((b: { id: string }) => b.id)).toEqual(ids.slice(3));
    expect(p2.body.next_cursor).toBeNull();
  });

  it('filters by connection, app and status', async () => {
    const byConn = await invoke(listH, routes.listBindings, {
      token: erin,
      query: { oauth_connection_id: otherConn },
    });
    expect(byConn.body.data.map((b: { id: string }) => b.id)).toEqual([ids[3]]);
    const byApp = await invoke(listH, routes.listBindings, { token: erin, query: { oauth_app_id: 'fake' } });
    expect(byApp.body.data).toEqual([]);
    const paused = await invoke(listH, routes.listBindings, { token: erin, query: { status: 'PAUSED' } });
    expect(paused.body.data.map((b: { id: string }) => b.id)).toEqual([ids[1]]);
    const bad = await invoke(listH, routes.listBindings, { token: erin, query: { status: 'SLEEPING' } });
    expect(bad.status).toBe(400);
  });

  it('refuses a forged cursor (400) and shows nothing of another workspace', async () => {
    const forged = Buffer.from(
      JSON.stringify({ v: 1, l: 'bindings', k: { gsi1pk: 'BINDINGS#ws-bind' } }),
    ).toString('base64url');
    const res = await invoke(listH, routes.listBindings, { token: erin, query: { cursor: forged } });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: 'query.cursor', message: 'Invalid cursor' }]);
    const other = await invoke(listH, routes.listBindings, { token: bob });
    expect(other.body.data).toEqual([]);
  });
});

describe('PATCH /bindings/{id}', () => {
  it('re-validates a new mapping (400 naming the field) and applies a valid one', async () => {
    const b = await created(alice, body(aliceConn, { resource: freshRepo() }));
    const bad = await patch(alice, b.id, { field_mapping: [{ source: 'nope', target: 'title' }] });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([
      { path: 'body.field_mapping.0.source', message: expect.stringContaining("'nope'") },
    ]);
    const good = await patch(alice, b.id, {
      field_mapping: [
        { source: 'title', target: 'title' },
        { source: 'labels', target: 'labels' },
      ],
      conflict_policy: 'pronaflow_wins',
      project_id: 'prj_9',
    });
    expect(good.status, JSON.stringify(good.body)).toBe(200);
    expect(good.body).toMatchObject({ conflict_policy: 'pronaflow_wins', project_id: 'prj_9' });
    expect(good.body.field_mapping.map((e: { source: string }) => e.source)).toEqual(['title', 'labels']);
    expect((await get(alice, b.id)).body).toEqual(good.body);
    expect((await patch(alice, b.id, {})).status).toBe(400);
  });

  it('a changed mapping drops the checkpoint and ETags (records are mapped again); the same mapping keeps them', async () => {
    const b = await created(alice, body(aliceConn, { resource: freshRepo() }));
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: bindingKeys.binding(aliceConn, b.id),
        UpdateExpression: 'SET checkpoint = :c, etags = :e',
        ExpressionAttributeValues: { ':c': '2026-12-01T10:00:00Z', ':e': { k: 'W/"1"' } },
      }),
    );
    const same = await patch(alice, b.id, { field_mapping: mapping, conflict_policy: 'newest_wins' });
    expect(same.status, JSON.stringify(same.body)).toBe(200);
    expect(same.body.checkpoint).toBe('2026-12-01T10:00:00Z');
    const changed = await patch(alice, b.id, { field_mapping: mapping.slice(0, 3) });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body.checkpoint).toBeNull();
    const stored = await store.getBindingAt(aliceConn, b.id);
    expect(stored?.etags).toEqual({});
  });

  it('resuming a binding with PronaFlow changes waiting starts a run for them', async () => {
    const b = await created(alice, body(aliceConn, { resource: freshRepo() }));
    expect((await patch(alice, b.id, { active: false })).status).toBe(200);
    await db().send(
      new PutCommand({
        TableName: tableName(),
        Item: {
          ...bindingKeys.pending(aliceConn, b.id, 'task_waiting'),
          entity: 'SyncPending',
          binding_id: b.id,
          pronaflow_id: 'task_waiting',
          op: 'update',
          values: { title: 'Changed while paused' },
          event_id: 'evt_w',
          occurred_at: new Date().toISOString(),
        },
      }),
    );
    const resumed = await patch(alice, b.id, { active: true });
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
    const after = await get(alice, b.id);
    expect(after.body.active_run_id).toEqual(expect.stringMatching(/^run_/));
    const runs = await invoke(runsH, routes.listBindingRuns, { token: alice, params: { id: b.id } });
    expect(runs.body.data[0]).toMatchObject({ trigger: 'events', status: 'QUEUED' });
  });

  it('writes and deletes the schedule marker with the schedule', async () => {
    const b = await created(alice, body(aliceConn, { resource: freshRepo() }));
    const on = await patch(alice, b.id, { schedule: { every_minutes: 60 } });
    expect(on.status).toBe(200);
    expect(on.body.next_run_at).toEqual(expect.any(String));
    const marker = async () => (await scan()).find((i) => i.sk === `BINDSCHED#${b.id}`);
    expect(await marker()).toMatchObject({ next_run_at: on.body.next_run_at });
    const off = await patch(alice, b.id, { schedule: null });
    expect(off.body).toMatchObject({ schedule: null, next_run_at: null });
    expect(await marker()).toBeUndefined();
    const tooOften = await patch(alice, b.id, { schedule: { every_minutes: 1 } });
    expect(tooOften.status).toBe(400);
  });

  it('pauses and resumes; resuming needs the live consent (403)', async () => {
    const conn = await connect(carol);
    const consentId = await consent(carol, conn);
    const b = await created(carol, body(conn, { resource: freshRepo() }));
    const paused = await patch(carol, b.id, { active: false });
    expect(paused.body).toMatchObject({ status: 'PAUSED', status_reason: { code: 'paused' } });
    expect((await sync(carol, b.id)).status).toBe(409);

    const revoked = await invoke(revokeH, routes.revokeConsent, { token: carol, params: { id: consentId } });
    expect(revoked.status).toBe(200);
    const refused = await patch(carol, b.id, { active: true });
    expect(refused.status).toBe(403);
    expect(refused.body.consent_required).toEqual({
      consent_type: 'THIRD_PARTY',
      resource_type: 'oauth_connection',
      resource_id: conn,
    });
    expect((await get(carol, b.id)).body.status).toBe('PAUSED');

    await consent(carol, conn);
    const resumed = await patch(carol, b.id, { active: true });
    expect(resumed.body).toMatchObject({ status: 'ACTIVE', status_reason: null });
    // Another member may resume it too: the consent judged is the connection owner's.
    await patch(carol, b.id, { active: false });
    expect((await patch(alice, b.id, { active: true })).body.status).toBe('ACTIVE');
  });

  it('answers 409 when the binding changed since it was read', async () => {
    const b = await created(alice, body(aliceConn, { resource: freshRepo() }));
    const stale = await store.findBinding(WS, b.id);
    expect((await patch(alice, b.id, { conflict_policy: 'newest_wins' })).status).toBe(200);
    vi.mocked(store.findBinding).mockResolvedValueOnce(stale);
    const res = await patch(alice, b.id, {
      conflict_policy: 'pronaflow_wins',
      schedule: { every_minutes: 30 },
    });
    expect(res.status).toBe(409);
    expect(res.body.detail).toContain('changed meanwhile');
    const now = (await get(alice, b.id)).body;
    expect(now).toMatchObject({ conflict_policy: 'newest_wins', schedule: null });
    // Nothing half-written: the schedule marker went with the refused change.
    expect((await scan()).some((i) => i.sk === `BINDSCHED#${b.id}`)).toBe(false);
  });

  it('answers 404 for another workspace', async () => {
    const b = await created(alice, body(aliceConn, { resource: freshRepo() }));
    expect((await patch(bob, b.id, { active: false })).status).toBe(404);
  });
});

describe('DELETE /bindings/{id}', () => {
  it('deletes the binding and everything it holds, freeing its resource', async () => {
    const r = freshRepo();
    const b = await created(alice, body(aliceConn, { resource: r, schedule: { every_minutes: 10 } }));
    const run = await sync(alice, b.id);
    expect(run.status).toBe(202);
    expect((await del(bob, b.id)).status).toBe(404);
    expect((await del(alice, b.id)).status).toBe(204);
    expect((await get(alice, b.id)).status).toBe(404);
    expect((await del(alice, b.id)).status).toBe(404);
    const left = (await scan()).filter(
      (i) => String(i.sk).includes(b.id) || i.sk === `BINDRES#task#acme/${r.repo}#issues`,
    );
    expect(left).toEqual([]);
    const again = await created(alice, body(aliceConn, { resource: r }));
    expect(again.id).not.toBe(b.id);
  });
});

describe('POST /bindings/{id}/sync and runs', () => {
  it('queues a run (202), refuses a second one (409 with run_id), lists, reads and cancels it', async () => {
    const b = await created(alice, body(aliceConn, { resource: freshRepo() }));
    const first = await sync(alice, b.id, { full: true });
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    expect(first.body).toMatchObject({
      run_id: expect.stringMatching(/^run_/),
      binding_id: b.id,
      status: 'QUEUED',
      trigger: 'manual',
      full: true,
      inbound: { added: 0, updated: 0, deleted: 0, skipped: 0, failed: 0 },
      errors: [],
      errors_total: 0,
      started_at: null,
      cancel_requested: false,
    });
    expect(first.body.id).toBe(first.body.run_id);
    expect((await get(alice, b.id)).body.active_run_id).toBe(first.body.run_id);

    const second = await sync(alice, b.id);
    expect(second.status).toBe(409);
    expect(second.body.run_id).toBe(first.body.run_id);

    const list = await invoke(runsH, routes.listBindingRuns, { token: alice, params: { id: b.id } });
    expect(list.status).toBe(200);
    expect(list.body.data.map((r: { id: string }) => r.id)).toEqual([first.body.run_id]);
    const one = await invoke(getRunH, routes.getBindingRun, {
      token: alice,
      params: { id: b.id, run_id: first.body.run_id },
    });
    expect(one.status).toBe(200);
    const { run_id: _, ...view } = first.body;
    expect(one.body).toEqual(view);
    const unknown = await invoke(getRunH, routes.getBindingRun, {
      token: alice,
      params: { id: b.id, run_id: 'run_nope' },
    });
    expect(unknown.status).toBe(404);
    const foreign = await invoke(getRunH, routes.getBindingRun, {
      token: bob,
      params: { id: b.id, run_id: first.body.run_id },
    });
    expect(foreign.status).toBe(404);

    const cancelled = await invoke(cancelRunH, routes.cancelBindingRun, {
      token: alice,
      params: { id: b.id, run_id: first.body.run_id },
    });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'CANCELLED', error: { code: 'cancelled' } });
    expect(cancelled.body.finished_at).toEqual(expect.any(String));
    const after = (await get(alice, b.id)).body;
    expect(after).toMatchObject({
      active_run_id: null,
      last_run: { id: first.body.run_id, status: 'CANCELLED' },
    });
    // The binding is free again: a new run starts, newest listed first.
    const third = await sync(alice, b.id);
    expect(third.status).toBe(202);
    const runs = await invoke(runsH, routes.listBindingRuns, {
      token: alice,
      params: { id: b.id },
      query: { limit: '1' },
    });
    expect(runs.body.data.map((r: { id: string }) => r.id)).toEqual([third.body.run_id]);
    expect(runs.body.next_cursor).toEqual(expect.any(String));
    const stored = await db().send(
      new QueryCommand({
        TableName: tableName(),
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
        ExpressionAttributeValues: { ':pk': `OAUTHCONN#${aliceConn}`, ':p': bindingKeys.runPrefix(b.id) },
      }),
    );
    expect(stored.Items).toHaveLength(2);
  });

  it('answers 409 for a PAUSED binding and 403 without the consent', async () => {
    const conn = await connect(carol);
    const consentId = await consent(carol, conn);
    const b = await created(carol, body(conn, { resource: freshRepo() }));
    await patch(carol, b.id, { active: false });
    const paused = await sync(carol, b.id);
    expect(paused.status).toBe(409);
    expect(paused.body).toMatchObject({ binding_status: 'PAUSED', status_reason: { code: 'paused' } });
    await invoke(revokeH, routes.revokeConsent, { token: carol, params: { id: consentId } });
    const noConsent = await sync(carol, b.id);
    expect(noConsent.status).toBe(403);
    expect(noConsent.body.consent_required.resource_id).toBe(conn);
    expect((await sync(bob, b.id)).status).toBe(404);
  });
});

describe('POST /bindings/{id}/preview', () => {
  it('maps a given record, and back for a two-way binding; writes nothing', async () => {
    const b = await created(alice, body(aliceConn, { resource: freshRepo() }));
    const before = (await scan()).length;
    const res = await invoke(previewH, routes.previewBinding, {
      token: alice,
      params: { id: b.id },
      body: {
        record: { title: 'Fix login', body: 'Steps…', state: 'closed', html_url: 'https://github.com/x' },
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({
      direction: 'BIDIRECTIONAL',
      source: 'given',
      inbound: {
        values: {
          title: 'Fix login',
          description: 'Steps…',
          status: 'done',
          external_url: 'https://github.com/x',
        },
        errors: [],
      },
      outbound: { values: { title: 'Fix login', body: 'Steps…', state: 'closed' }, errors: [] },
    });
    expect(res.body.external_id).toBeUndefined();
    const missing = await invoke(previewH, routes.previewBinding, {
      token: alice,
      params: { id: b.id },
      body: { record: { body: 'no title' } },
    });
    expect(missing.body.inbound.errors).toEqual([
      { path: 'title', message: expect.stringContaining('required') },
    ]);
    // Authentication counts requests in the table; nothing of the binding's is written.
    const items = await scan();
    expect(items.filter((i) => String(i.sk).includes(b.id))).toHaveLength(1);
    expect(items.length - before).toBeLessThanOrEqual(2);
  });

  it('maps a PronaFlow record outbound for an OUTBOUND binding (and needs one)', async () => {
    const b = await created(
      alice,
      body(aliceConn, {
        resource: freshRepo(),
        direction: 'OUTBOUND',
        field_mapping: [
          { source: 'title', target: 'title' },
          { source: 'state', target: 'status', transform: statusMap },
        ],
      }),
    );
    const res = await invoke(previewH, routes.previewBinding, {
      token: alice,
      params: { id: b.id },
      body: { record: { title: 'From PronaFlow', status: 'in_review' } },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({
      direction: 'OUTBOUND',
      source: 'given',
      record: { title: 'From PronaFlow', status: 'in_review' },
      outbound: { values: { title: 'From PronaFlow', state: 'open' }, errors: [] },
    });
    const none = await invoke(previewH, routes.previewBinding, { token: alice, params: { id: b.id } });
    expect(none.status).toBe(400);
    expect(none.body.errors[0].path).toBe('body.record');
  });

  it("reads the provider's first record when none is given", async () => {
    const r = freshRepo();
    gh.addIssue('acme', r.repo, { title: 'From GitHub', body: 'hello', state: 'open' });
    const b = await created(alice, body(aliceConn, { resource: r, direction: 'INBOUND' }));
    const res = await invoke(previewH, routes.previewBinding, { token: alice, params: { id: b.id } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({
      direction: 'INBOUND',
      source: 'provider',
      external_id: expect.any(String),
      inbound: { values: { title: 'From GitHub', description: 'hello', status: 'todo' }, errors: [] },
    });
    expect(res.body.outbound).toBeUndefined();
    const emptyRepo = freshRepo();
    gh.repo('acme', emptyRepo.repo);
    const empty = await created(alice, body(aliceConn, { resource: emptyRepo, direction: 'INBOUND' }));
    const none = await invoke(previewH, routes.previewBinding, { token: alice, params: { id: empty.id } });
    expect(none.body).toMatchObject({
      source: 'provider',
      record: null,
      inbound: { values: {}, errors: [] },
    });
  });
});

describe('catalogs', () => {
  it("GET /bindings/targets lists PronaFlow's fields per entity", async () => {
    const res = await invoke(targetsH, routes.listBindingTargets, { token: alice });
    expect(res.status).toBe(200);
    expect(res.body.entities.map((e: { entity: string }) => e.entity)).toEqual(['task', 'comment']);
    const task = res.body.entities[0].fields;
    expect(task.map((f: { name: string }) => f.name)).toEqual(targetFields.task.map((f) => f.name));
    expect(task.find((f: { name: string }) => f.name === 'status')).toMatchObject({
      type: 'enum',
      values: ['todo', 'in_progress', 'in_review', 'done', 'cancelled'],
    });
  });

  it('GET /oauth/apps/{id}/resources describes the adapter, nothing for an app without, 404 unknown', async () => {
    const res = await invoke(resourcesH, routes.getOAuthAppResources, {
      token: alice,
      params: { id: 'fake-github' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ app_id: 'fake-github', sync_adapter: 'github' });
    const [type] = res.body.resource_types;
    expect(type.type).toBe('github_repository');
    expect(type.locator).toMatchObject({
      type: 'object',
      properties: { owner: { type: 'string' }, repo: { type: 'string' }, kind: { enum: expect.any(Array) } },
    });
    expect(type.variants.map((v: { kind: string; entity: string }) => `${v.kind}:${v.entity}`)).toEqual([
      'issues:task',
      'pull_requests:task',
      'issue_comments:comment',
    ]);
    expect(type.variants[1].writable).toEqual({ create: false, update: true, delete: true });
    expect(type.variants[0].fields.find((f: { name: string }) => f.name === 'state')).toMatchObject({
      type: 'enum',
      values: ['open', 'closed'],
    });
    const plain = await invoke(resourcesH, routes.getOAuthAppResources, {
      token: alice,
      params: { id: 'fake' },
    });
    expect(plain.body).toEqual({ app_id: 'fake', sync_adapter: null, resource_types: [] });
    const unknown = await invoke(resourcesH, routes.getOAuthAppResources, {
      token: alice,
      params: { id: 'nope' },
    });
    expect(unknown.status).toBe(404);
  });
});
