import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { handler as createBinding } from '#functions/bindings/create-binding.ts';
import { handler as grantConsent } from '#functions/consents/grant-consent.ts';
import { handler as installPlugin } from '#functions/plugins/install-plugin.ts';
import { routes } from '#functions/routes.ts';
import { handler as createToken } from '#functions/tokens/create-token.ts';
import { handler as createWebhook } from '#functions/webhooks/create-webhook.ts';
import { bindingKeys } from '#shared/bindings/keys.ts';
import { type RunItem, zeroCounts } from '#shared/bindings/store.ts';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import type { RouteDef } from '#shared/http/route.ts';
import { newId } from '#shared/ids.ts';
import { setResolver } from '#shared/net/url-guard.ts';
import { insertConnection } from '#shared/oauth/connections-repo.ts';
import { recordUsageBatch } from '#shared/tokens/usage.ts';
import { compressPayload } from '#shared/webhooks/delivery-payload.ts';
import { createDelivery } from '#shared/webhooks/delivery-store.ts';
import { setEnv, useTestTable } from '#test/helpers/env.ts';
import { type Answer, invoke } from '#test/helpers/http-event.ts';
import { putPublishedPlugins } from '#test/helpers/plugins.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';
import { type TestIdentity, testIdentity } from '#test/helpers/session.ts';

/**
 * Every list route of the route table (a query schema with `cursor`) answers 400 to any cursor it
 * did not issue for this list and caller — never a 500 from DynamoDB, never another range's items.
 * The routes are taken from the table, so a new list is covered once it has a seed below; a list
 * without one fails here.
 */
useTestTable();
let id: TestIdentity;

beforeAll(async () => {
  // A list keyed on four attributes (bindings) meets dozens of forgeries: more than a minute's budget.
  setEnv({ ALLOW_LOOPBACK_TARGETS: 'false', RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '100000' });
  useMemorySecrets();
  id = await testIdentity();
  setResolver(async () => [{ address: '93.184.216.34', family: 4 }]);
});

interface Caller {
  user: string;
  ws: string;
  jwt: string;
}

const handlers: Record<string, unknown> = {};
async function handlerOf(r: RouteDef): Promise<unknown> {
  handlers[r.id] ??= (
    await import(/* @vite-ignore */ pathToFileURL(resolve('functions', `${r.handler}.ts`)).href)
  ).handler;
  return handlers[r.id];
}

/** Creates three items of the list for `c` and returns the path params the list needs. */
type Seed = (c: Caller) => Promise<Record<string, string>>;

async function webhook(c: Caller, name: string): Promise<string> {
  const res = await invoke(createWebhook, routes.createWebhook, {
    token: c.jwt,
    body: { name, url: 'https://hooks.example.com/in', events: { 'task.created': true } },
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

async function connection(c: Caller, connId: string): Promise<void> {
  const at = new Date().toISOString();
  await insertConnection({
    ...keys.oauthConnection(c.ws, c.user, connId),
    entity: 'OAuthConnection',
    id: connId,
    workspace_id: c.ws,
    user_id: c.user,
    app_id: 'github',
    source: 'direct',
    status: 'ACTIVE',
    scopes: ['repo'],
    token_type: 'bearer',
    access_token_sealed: 'sealed',
    sealed_key_id: 'k1',
    token_expires_at: new Date(Date.now() + 3600_000).toISOString(),
    refresh_attempts: 0,
    version: 1,
    created_at: at,
    updated_at: at,
  });
}

/** `count` bindings of repositories of a connection of `c` (with the consent they need). */
async function bindings(c: Caller, count: number): Promise<{ connId: string; ids: string[] }> {
  const connId = `conn_${c.user}_sync`;
  await connection(c, connId);
  const consent = await invoke(grantConsent, routes.grantConsent, {
    token: c.jwt,
    body: { consent_type: 'THIRD_PARTY', resource_type: 'oauth_connection', resource_id: connId },
  });
  expect(consent.status).toBe(201);
  const ids: string[] = [];
  for (let n = 1; n <= count; n++) {
    const res = await invoke(createBinding, routes.createBinding, {
      token: c.jwt,
      body: {
        oauth_connection_id: connId,
        resource: { type: 'github_repository', owner: 'acme', repo: `r${n}`, kind: 'issues' },
        entity: 'task',
        direction: 'INBOUND',
        field_mapping: [{ source: 'title', target: 'title' }],
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    ids.push(res.body.id);
  }
  return { connId, ids };
}

const seeds: Record<string, Seed> = {
  listTokens: async (c) => {
    for (const name of ['a', 'b', 'c']) {
      const res = await invoke(createToken, routes.createToken, {
        token: c.jwt,
        body: { name, scopes: ['read:tasks'] },
      });
      expect(res.status).toBe(201);
    }
    return {};
  },
  listUsageLogs: async (c) => {
    const at = (i: number) => new Date(Date.now() - 60_000 * (i + 1)).toISOString();
    const failed = await recordUsageBatch(
      [0, 1, 2].map((i) => ({
        messageId: `m${i}`,
        body: JSON.stringify({
          id: `req-${c.user}-${i}`,
          token_id: `tok_${c.user}`,
          user_id: c.user,
          workspace_id: c.ws,
          method: 'GET',
          route: '/v1/integration/tokens',
          status: 200,
          latency_ms: 3,
          at: at(i),
          client_ip: null,
        }),
      })),
    );
    expect(failed).toEqual([]);
    return {};
  },
  listWebhooks: async (c) => {
    for (const name of ['a', 'b', 'c']) await webhook(c, name);
    return {};
  },
  listDeliveries: async (c) => {
    const endpoint = await webhook(c, 'deliveries');
    for (const n of [1, 2, 3]) {
      await createDelivery({
        event: { id: `evt_${c.user}_${n}`, type: 'task.created', workspace_id: c.ws },
        endpoint: { id: endpoint, workspace_id: c.ws },
        payloadGz: compressPayload('{}'),
        now: new Date(Date.now() - n * 1000),
      });
    }
    return { id: endpoint };
  },
  listPlugins: async (c) => {
    await putPublishedPlugins([1, 2, 3].map((n) => `cur-${c.user.toLowerCase()}-${n}`));
    return {};
  },
  listInstalledPlugins: async (c) => {
    const ids = [1, 2, 3].map((n) => `inst-${c.user.toLowerCase()}-${n}`);
    await putPublishedPlugins(ids);
    for (const pluginId of ids) {
      const res = await invoke(installPlugin, routes.installPlugin, {
        token: c.jwt,
        params: { id: pluginId },
        body: {},
      });
      expect(res.status).toBe(201);
    }
    return {};
  },
  listPluginVersions: async (c) => {
    const pluginId = `ver-${c.user.toLowerCase()}`;
    await putPublishedPlugins([pluginId], ['1.0.0', '1.1.0', '2.0.0']);
    return { id: pluginId };
  },
  listConsents: async (c) => {
    for (const n of [1, 2, 3]) {
      const res = await invoke(grantConsent, routes.grantConsent, {
        token: c.jwt,
        body: { consent_type: 'ANALYTICS', resource_type: 'dashboard', resource_id: `d${n}` },
      });
      expect(res.status).toBe(201);
    }
    return {};
  },
  consentAudit: async (c) => {
    for (const n of [1, 2, 3]) {
      const res = await invoke(grantConsent, routes.grantConsent, {
        token: c.jwt,
        body: { consent_type: 'MARKETING', resource_type: 'newsletter', resource_id: `n${n}` },
      });
      expect(res.status).toBe(201);
    }
    return {};
  },
  listBindings: async (c) => {
    await bindings(c, 3);
    return {};
  },
  listBindingRuns: async (c) => {
    const { connId, ids } = await bindings(c, 1);
    const bindingId = ids[0] as string;
    for (const n of [3, 2, 1]) {
      const at = new Date(Date.now() - n * 1000);
      const runId = newId('run', at.getTime());
      const run: RunItem = {
        ...bindingKeys.run(connId, bindingId, runId),
        entity: 'SyncRun',
        id: runId,
        binding_id: bindingId,
        workspace_id: c.ws,
        connection_id: connId,
        status: 'SUCCEEDED',
        trigger: 'manual',
        full: false,
        inbound: zeroCounts(),
        outbound: zeroCounts(),
        errors: [],
        errors_total: 0,
        error: null,
        checkpoint_from: null,
        checkpoint_to: null,
        pages_fetched: 1,
        provider_calls: 1,
        rate_limit_waits: 0,
        rate_limit_wait_ms: 0,
        not_modified: 0,
        invocations: 1,
        phase: 'done',
        cursor: null,
        page_seq: 1,
        resume_at: null,
        cancel_requested: false,
        queued_at: at.toISOString(),
        started_at: at.toISOString(),
        finished_at: at.toISOString(),
        duration_ms: 5,
      };
      await db().send(new PutCommand({ TableName: tableName(), Item: run }));
    }
    return { id: bindingId };
  },
  listConnections: async (c) => {
    for (const n of [1, 2, 3]) {
      const connId = `conn_${c.user}_${n}`;
      const at = new Date(Date.now() - n * 1000).toISOString();
      await insertConnection({
        ...keys.oauthConnection(c.ws, c.user, connId),
        entity: 'OAuthConnection',
        id: connId,
        workspace_id: c.ws,
        user_id: c.user,
        app_id: 'github',
        source: 'direct',
        status: 'ACTIVE',
        scopes: ['repo'],
        token_type: 'bearer',
        access_token_sealed: 'sealed',
        sealed_key_id: 'k1',
        token_expires_at: new Date(Date.now() + 3600_000).toISOString(),
        refresh_attempts: 0,
        version: 1,
        created_at: at,
        updated_at: at,
      });
    }
    return {};
  },
};

const listRoutes = Object.values(routes as Record<string, RouteDef>).filter(
  (r) => r.method === 'GET' && r.query && 'cursor' in ((r.query as { entries?: object }).entries ?? {}),
);

const encode = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const decode = (c: string) => JSON.parse(Buffer.from(c, 'base64url').toString('utf8'));

/**
 * Cursors derived from a real one of this list that the list must refuse: each edit is made to the
 * key inside the cursor and, again, to a bare DynamoDB key (the shape a guesser would try first).
 */
function forgeries(real: string, otherCallers: string, otherList: string): Record<string, string> {
  const payload = decode(real) as { k?: Record<string, string> };
  const key = payload.k ?? (payload as Record<string, string>);
  const edits: Record<string, Record<string, unknown>> = { 'an extra key attribute': { ...key, x: 'y' } };
  for (const attr of Object.keys(key)) {
    const { [attr]: _dropped, ...rest } = key;
    edits[`without ${attr}`] = rest;
    edits[`only ${attr}`] = { [attr]: key[attr] };
    edits[`${attr} as a number`] = { ...key, [attr]: 7 };
    edits[`${attr} before the range`] = { ...key, [attr]: '!' };
    edits[`${attr} after the range`] = { ...key, [attr]: '~~~~' };
    edits[`${attr} longer than a DynamoDB key`] = { ...key, [attr]: `${key[attr]}${'z'.repeat(2100)}` };
  }
  const out: Record<string, string> = {
    'not base64url JSON': '%%%not-a-cursor',
    'JSON that is no cursor': encode([1, 2, 3]),
    'an unknown version': encode({ ...payload, v: 2 }),
    'an extra payload field': encode({ ...payload, z: 1 }),
    "another caller's cursor of this list": otherCallers,
    "another list's cursor": otherList,
  };
  for (const [name, edited] of Object.entries(edits)) {
    out[`bare key, ${name}`] = encode(edited);
    if (payload.k) out[`cursor, ${name}`] = encode({ ...payload, k: edited });
  }
  return out;
}

describe('list cursors', () => {
  it('finds the list routes in the route table, each with a seed', () => {
    const implemented = listRoutes.filter((r) => !r.pending).map((r) => r.id);
    expect(implemented.length).toBeGreaterThanOrEqual(5);
    expect(implemented.filter((r) => !seeds[r])).toEqual([]);
  });

  const implemented = listRoutes.filter((r) => !r.pending);
  const firstCursor = new Map<string, string>();

  async function page(r: RouteDef, c: Caller, params: Record<string, string>, cursor?: string) {
    return invoke(await handlerOf(r), r, {
      token: c.jwt,
      params,
      query: { limit: '1', ...(cursor ? { cursor } : {}) },
    });
  }

  for (const r of implemented) {
    it(`${r.id}: follows its own cursor and refuses every cursor it did not issue with 400`, async () => {
      const caller = async (tag: string): Promise<Caller> => {
        const user = `u-${r.id}-${tag}`;
        const ws = `ws-${r.id}-${tag}`;
        return { user, ws, jwt: await id.jwt(user, [{ id: ws, role: 'admin' }]) };
      };
      const me = await caller('me');
      const them = await caller('them');
      const params = await seeds[r.id]!(me);
      const theirParams = await seeds[r.id]!(them);

      const first = await page(r, me, params);
      expect(first.status).toBe(200);
      expect(first.body.data).toHaveLength(1);
      const cursor = first.body.next_cursor as string;
      expect(cursor).toEqual(expect.any(String));
      firstCursor.set(r.id, cursor);

      const second = await page(r, me, params, cursor);
      expect(second.status).toBe(200);
      expect(second.body.data).toHaveLength(1);
      expect(second.body.data[0]).not.toEqual(first.body.data[0]);

      const theirs = (await page(r, them, theirParams)).body.next_cursor as string;
      const otherList =
        [...firstCursor.entries()].find(([list]) => list !== r.id)?.[1] ?? encode({ v: 1, l: 'x', k: {} });
      const answers: Record<string, Answer> = {};
      for (const [name, forged] of Object.entries(forgeries(cursor, theirs, otherList))) {
        answers[name] = await page(r, me, params, forged);
      }
      const wrong = Object.entries(answers)
        .filter(([, a]) => a.status !== 400 || a.body.errors?.[0]?.path !== 'query.cursor')
        .map(([name, a]) => `${name}: ${a.status}`);
      expect(wrong).toEqual([]);
      expect(Object.values(answers)[0]!.headers['content-type']).toMatch(/application\/problem\+json/);
    });
  }
});
