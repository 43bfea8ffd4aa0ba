import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import SwaggerParser from '@apidevtools/swagger-parser';
import { describe, expect, it } from 'vitest';
import { routeList, routes } from '#functions/routes.ts';
import { workers } from '#functions/workers.ts';
import { buildOpenApi } from '#shared/http/openapi.ts';
import { fullPath, routeGrants } from '#shared/http/route.ts';
import { compileRoutes, matchRoute } from '#shared/http/router.ts';

const importHandler = (handler: string) =>
  import(/* @vite-ignore */ pathToFileURL(resolve('functions', `${handler}.ts`)).href);

/** The product's endpoints (issue #3), all under /v1/integration. */
const PRODUCT_ENDPOINTS = [
  'POST /tokens',
  'GET /tokens',
  'PATCH /tokens/{id}',
  'DELETE /tokens/{id}',
  'GET /tokens/scopes',
  'GET /tokens/{id}/scopes',
  'GET /tokens/usage-logs',
  'POST /webhooks',
  'GET /webhooks',
  'GET /webhooks/{id}',
  'PATCH /webhooks/{id}',
  'GET /webhooks/{id}/deliveries',
  'GET /oauth/apps',
  'GET /oauth/apps/{id}',
  'POST /oauth/connections',
  'GET /oauth/connections',
  'GET /oauth/connections/{id}',
  'DELETE /oauth/connections/{id}',
  'POST /oauth/callback',
  'POST /bindings',
  'GET /bindings',
  'PATCH /bindings/{id}',
  'DELETE /bindings/{id}',
  'POST /bindings/{id}/sync',
  'GET /plugins',
  'GET /plugins/{id}',
  'POST /plugins/{id}/install',
  'GET /plugins/installed',
  'PATCH /plugins/{id}/config',
  'DELETE /plugins/{id}/uninstall',
  'GET /consents',
  'POST /consents',
  'DELETE /consents/{id}',
  'GET /consents/status',
  'GET /status',
  'GET /health',
];

describe('route table', () => {
  it('registers every product endpoint', () => {
    const registered = new Set(routeList.map((r) => `${r.method} ${r.path}`));
    expect(PRODUCT_ENDPOINTS.filter((e) => !registered.has(e))).toEqual([]);
  });

  it('has unique ids and unique method + path pairs', () => {
    expect(new Set(routeList.map((r) => r.id)).size).toBe(routeList.length);
    expect(new Set(routeList.map((r) => `${r.method} ${r.path}`)).size).toBe(routeList.length);
  });

  it('keys each row by its id', () => {
    for (const [key, r] of Object.entries(routes)) expect(r.id).toBe(key);
  });

  it.each(routeList.map((r) => [r.id, r.handler]))(
    '%s has a handler file exporting `handler`',
    async (_id, handler) => {
      const file = `functions/${handler}.ts`;
      expect(existsSync(file), file).toBe(true);
      const mod = (await importHandler(handler)) as { handler?: unknown };
      expect(typeof mod.handler).toBe('function');
    },
  );

  it.each(workers.map((w) => [w.id, w.handler]))('worker %s has a handler file', async (_id, handler) => {
    const mod = (await importHandler(handler)) as { handler?: unknown };
    expect(typeof mod.handler).toBe('function');
  });

  it('declares path parameters for every {param} in a path, and only those', () => {
    for (const r of routeList) {
      const inPath = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      const declared = r.params ? Object.keys((r.params as unknown as { shape: object }).shape).sort() : [];
      expect(declared, r.id).toEqual(inPath);
    }
  });

  it("gives token-accepting routes a required scope (except the caller's own rate limit)", () => {
    const scopeless = routeList.filter((x) => x.auth === 'user_or_token' && x.scopes.length === 0);
    expect(scopeless.map((r) => r.id)).toEqual(['getRateLimit']);
  });

  it('grants every authenticated route the table, and token routes the usage queue', () => {
    for (const r of routeList) {
      const grants = routeGrants(r);
      if (r.auth === 'public') expect(grants, r.id).toEqual([...new Set(r.grants ?? [])].sort());
      else expect(grants, r.id).toEqual(expect.arrayContaining(['table:read', 'table:write']));
      expect(grants.includes('queue:usage:send'), r.id).toBe(
        r.auth === 'user_or_token' || !!r.grants?.includes('queue:usage:send'),
      );
    }
  });

  it('lets static segments win over {id} (as API Gateway does)', () => {
    const compiled = compileRoutes(routeList);
    const pick = (method: string, path: string) => {
      const m = matchRoute(compiled, method, `/v1/integration${path}`);
      return m.kind === 'found' ? m.route.def.id : m.kind;
    };
    expect(pick('GET', '/tokens/scopes')).toBe('listScopes');
    expect(pick('GET', '/tokens/usage-logs')).toBe('listUsageLogs');
    expect(pick('GET', '/tokens/tok_1')).toBe('getToken');
    expect(pick('GET', '/plugins/installed')).toBe('listInstalledPlugins');
    expect(pick('GET', '/plugins/markdown-editor')).toBe('getPlugin');
    expect(pick('GET', '/consents/status')).toBe('consentStatus');
    expect(pick('GET', '/webhooks/events')).toBe('listWebhookEvents');
    expect(pick('GET', '/nothing/here')).toBe('not-found');
    expect(pick('PUT', '/health')).toBe('method-not-allowed');
  });
});

describe('OpenAPI document', () => {
  const doc = buildOpenApi(routeList, 'https://api.example.test');

  it('is a valid OpenAPI 3.1 document', async () => {
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
    expect(doc.openapi).toBe('3.1.0');
  });

  it('has an operation for every route', () => {
    const paths = doc.paths as Record<string, Record<string, { operationId: string }>>;
    for (const r of routeList) {
      expect(paths[fullPath(r)]?.[r.method.toLowerCase()]?.operationId, `${r.method} ${r.path}`).toBe(r.id);
    }
  });

  it('marks pending operations and documents problem+json errors on authenticated ones', () => {
    const paths = doc.paths as Record<string, Record<string, Record<string, unknown>>>;
    for (const r of routeList) {
      const op = paths[fullPath(r)]?.[r.method.toLowerCase()] ?? {};
      if (r.pending) expect(op['x-pending']).toBe(r.pending);
      if (r.auth !== 'public')
        expect(Object.keys(op.responses as object)).toEqual(expect.arrayContaining(['401', '403']));
    }
  });
});

describe('local router', () => {
  it('keeps a malformed percent-escape as sent instead of crashing', () => {
    const m = matchRoute(compileRoutes(routeList), 'GET', '/v1/integration/tokens/%E0%A4%A');
    expect(m).toMatchObject({ kind: 'found', params: { id: '%E0%A4%A' } });
  });
});
