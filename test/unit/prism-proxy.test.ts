/**
 * Replays ordinary traffic through Stoplight Prism's validating proxy (`prism proxy`),
 * in front of the local runtime, and fails on any request or response violation Prism reports
 * (its `sl-violations` header). Prism (`@stoplight/prism-cli`) is a devDependency, so this runs
 * in every `npm test`; `PRISM_BIN` points it at another Prism build.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeList } from '#functions/routes.ts';
import { buildOpenApi } from '#shared/http/openapi.ts';
import { eventually, useLocalStack } from '#test/helpers/local-stack.ts';
import { type Receiver, startReceiver } from '#test/integration/webhooks/webhooks-harness.ts';

/** Prism's CLI: PRISM_BIN, or the repo's own (`@stoplight/prism-cli`, a devDependency). */
const PRISM = process.env.PRISM_BIN ?? resolve('node_modules/.bin/prism');

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

describe('the OpenAPI document through Prism (prism proxy)', () => {
  it('has Prism installed', () => expect(existsSync(PRISM)).toBe(true));
  const e2e = useLocalStack('prism');
  let prism: ChildProcess;
  let base: string;
  const violations: string[] = [];
  let session: string;
  let receiver: Receiver;

  beforeAll(async () => {
    const docPath = join(e2e.dir, 'openapi.json');
    writeFileSync(docPath, JSON.stringify(buildOpenApi(routeList, `${e2e.stack.baseUrl}/v1/integration`)));
    const port = await freePort();
    base = `http://127.0.0.1:${port}/v1/integration`;
    // Without --errors Prism forwards even an invalid request (a 400 is ordinary traffic too) and
    // reports what it found in the `sl-violations` header.
    prism = spawn(PRISM, ['proxy', docPath, e2e.stack.baseUrl, '--port', String(port)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('prism did not start')), 30_000);
      prism.stdout?.on('data', (b: Buffer) => {
        if (/Prism is listening/.test(b.toString())) {
          clearTimeout(timer);
          resolve();
        }
      });
      prism.on('exit', (code) => reject(new Error(`prism exited ${code}`)));
    });
    session = await e2e.session();
    receiver = await startReceiver();
  }, 60_000);
  afterAll(async () => {
    prism?.kill();
    // Every call of every test of this file is checked.
    expect(violations).toEqual([]);
    await receiver?.close();
  });

  /** A call through Prism; the violations it reports are collected. */
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    token = session,
    headers: Record<string, string> = {},
  ) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    const found = JSON.parse(res.headers.get('sl-violations') ?? '[]') as {
      location?: string[];
      message: string;
    }[];
    // Every answer must conform; a request the document refuses may only be one the service refuses
    // too (the deliberately bad ones): a refused request that succeeds is the document's error.
    for (const v of found.filter((x) => x.location?.[0] !== 'request' || res.status < 400)) {
      violations.push(`${method} ${path} → ${res.status}: ${v.location?.join('.')} ${v.message}`);
    }
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  };

  it('tokens: create, read, rotate without a body, revoke, then 404/400/401/409', async () => {
    const created = await call('POST', '/tokens', { name: 'prism', scopes: ['read:webhooks'] });
    expect(created.status).toBe(201);
    const id = created.json?.id as string;
    expect((await call('GET', `/tokens/${id}`)).status).toBe(200);
    expect((await call('GET', '/tokens/tok_00000000000000000000000000')).status).toBe(404);
    expect((await call('GET', '/tokens/nope')).status).toBe(400);
    expect((await call('POST', `/tokens/${id}/rotate`)).status).toBe(200);
    expect((await call('DELETE', `/tokens/${id}`)).status).toBe(204);
    expect((await call('PATCH', `/tokens/${id}`, { name: 'x' })).status).toBe(409);
    expect((await call('GET', '/tokens', undefined, 'not-a-jwt')).status).toBe(401);
    expect((await call('GET', '/webhooks/wh_unknown')).status).toBe(404);
    expect((await call('GET', '/oauth/connections/conn_unknown')).status).toBe(404);
    expect((await call('GET', '/consents/cns_unknown')).status).toBe(404);
    expect((await call('POST', '/bindings', { nope: true })).status).toBeGreaterThanOrEqual(400);
    expect((await call('GET', '/health')).status).toBeLessThan(600);
    expect((await call('GET', '/tokens?cursor=forged')).status).toBe(400);
    expect((await call('GET', '/tokens/usage-logs?token_id=tok_00000000000000000000000000')).status).toBe(
      404,
    );
    expect((await call('POST', '/tokens', 'name=x', session, { 'content-type': 'text/plain' })).status).toBe(
      415,
    );
    expect((await call('POST', '/tokens', { name: 'x'.repeat(300_000) })).status).toBe(413);
    expect((await call('GET', '/rate-limit')).status).toBe(200);
    expect(violations).toEqual([]);
  });

  it('webhooks: create, ping, deliver, redeliver twice (409), rotate, delete, then 404', async () => {
    const created = await call('POST', '/webhooks', {
      name: 'prism',
      url: receiver.url('/prism'),
      events: { 'task.created': true },
    });
    expect(created.status).toBe(201);
    const ep = created.json as { id: string; secret: string };
    receiver.setSecret('/prism', ep.secret);
    expect((await call('POST', `/webhooks/${ep.id}/test`)).status).toBe(202);
    const delivery = await eventually(async () => {
      const page = (await call('GET', `/webhooks/${ep.id}/deliveries`)).json as {
        data: { id: string; status: string }[];
      };
      return page.data[0]?.status === 'DELIVERED' ? page.data[0] : undefined;
    });
    expect((await call('GET', `/webhooks/${ep.id}/deliveries/${delivery.id}`)).status).toBe(200);
    expect((await call('GET', `/webhooks/${ep.id}/deliveries/dlv_unknown`)).status).toBe(404);
    expect((await call('POST', `/webhooks/${ep.id}/deliveries/${delivery.id}/redeliver`)).status).toBe(202);
    // A second redeliver while the first is in progress is a 409; the local worker may have finished it.
    expect([202, 409]).toContain(
      (await call('POST', `/webhooks/${ep.id}/deliveries/${delivery.id}/redeliver`)).status,
    );
    expect((await call('PATCH', `/webhooks/${ep.id}`, { name: 'renamed', active: false })).status).toBe(200);
    expect((await call('POST', `/webhooks/${ep.id}/deliveries/${delivery.id}/redeliver`)).status).toBe(409);
    expect((await call('POST', `/webhooks/${ep.id}/secret/rotate`)).status).toBe(200);
    expect((await call('GET', '/webhooks')).status).toBe(200);
    expect((await call('GET', '/webhooks/events')).status).toBe(200);
    expect((await call('DELETE', `/webhooks/${ep.id}`)).status).toBe(204);
    expect((await call('GET', `/webhooks/${ep.id}`)).status).toBe(404);
    expect((await call('DELETE', `/webhooks/${ep.id}`)).status).toBe(404);
  });

  it('consents, plugins and OAuth', async () => {
    const granted = await call('POST', '/consents', {
      consent_type: 'ANALYTICS',
      resource_type: 'prism_check',
      resource_id: 'r1',
    });
    expect(granted.status).toBe(201);
    const id = granted.json?.id as string;
    expect((await call('GET', `/consents/${id}`)).status).toBe(200);
    expect((await call('GET', '/consents?scope=workspace')).status).toBe(200);
    expect((await call('GET', '/consents/status')).status).toBe(200);
    expect((await call('GET', '/consents/audit')).status).toBe(200);
    expect((await call('GET', '/consents/audit/verify')).status).toBe(200);
    expect((await call('GET', '/consents/export')).status).toBe(200);
    expect((await call('DELETE', `/consents/${id}`)).status).toBe(200);
    expect((await call('GET', '/plugins')).status).toBe(200);
    expect((await call('GET', '/plugins/installed')).status).toBe(200);
    expect((await call('GET', '/plugins/no-such-plugin')).status).toBe(404);
    expect((await call('POST', '/plugins', { id: 'x' })).status).toBe(403);
    expect((await call('GET', '/oauth/apps')).status).toBe(200);
    expect((await call('GET', '/oauth/apps/no-such-app')).status).toBe(404);
    expect((await call('GET', '/oauth/connections')).status).toBe(200);
    expect((await call('POST', '/oauth/connections/conn_unknown/refresh')).status).toBe(404);
    // (No pending route: Prism answers an upstream 501 with a mock of its own.)
    expect((await call('GET', '/status')).status).toBe(200);
  });
});
