import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import SwaggerParser from '@apidevtools/swagger-parser';
import { describe, expect, it } from 'vitest';
import { features, workers } from '#functions/features.ts';
import { routeList, routes } from '#functions/routes.ts';
import { consumers } from '#functions/workers/ingest-events.ts';
import { buckets } from '#shared/bucket-catalog.ts';
import { configSchema } from '#shared/config.ts';
import { buildOpenApi } from '#shared/http/openapi.ts';
import { fullPath, routeGrants } from '#shared/http/route.ts';
import { compileRoutes, matchRoute } from '#shared/http/router.ts';
import { queues } from '#shared/queue-catalog.ts';
import { isKnownScope } from '#shared/tokens/scopes.ts';
import { eventCatalog } from '#shared/webhooks/catalog.ts';

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

/** Settings of the platform (HTTP chain, auth, table, queues, secrets), claimed by no feature. */
const PLATFORM_SETTINGS = [
  'MAX_BODY_SIZE_KB',
  'CORS_ALLOWED_ORIGINS',
  'AUTH_JWT_ISSUER',
  'AUTH_JWT_AUDIENCE',
  'AUTH_JWT_ALGORITHMS',
  'AUTH_JWKS_URL',
  'AUTH_JWT_PUBLIC_KEY',
  'TABLE_NAME',
  'DYNAMODB_ENDPOINT',
  'SQS_ENDPOINT',
  'S3_ENDPOINT',
  'SECRETS_SOURCE',
  'LOCAL_SECRETS_FILE',
  'SECRETS_PREFIX',
  // Queue URLs and bucket names come with their grants (the catalogs name them).
  ...Object.values(queues).map((q) => q.urlEnv),
  'DELIVERY_DLQ_URL',
  'DLQ_URLS',
  ...Object.values(buckets).map((b) => b.nameEnv),
];

describe('feature registry', () => {
  it('lists each feature once, with its folder, feature.ts and routes.ts', () => {
    expect(new Set(features.map((f) => f.id)).size).toBe(features.length);
    for (const f of features) {
      expect(existsSync(`functions/${f.id}/feature.ts`), f.id).toBe(true);
      expect(existsSync(`functions/${f.id}/routes.ts`), f.id).toBe(true);
    }
  });

  it("keeps each route in its feature: handler in the feature's folder, tagged with the feature's name", () => {
    for (const f of features) {
      for (const [key, r] of Object.entries(f.routes)) {
        expect(r.id, f.id).toBe(key);
        expect(r.handler, r.id).toMatch(new RegExp(`^${f.id}/[a-z0-9-]+$`));
        expect(r.tag, r.id).toBe(f.name);
      }
    }
  });

  it('gives every queue one owning feature, whose workers alone consume it', () => {
    const owners = features.flatMap((f) => (f.queues ?? []).map((q) => [q, f.id] as const));
    expect(owners.map(([q]) => q).sort()).toEqual(Object.keys(queues).sort());
    const ownerOf = new Map(owners);
    for (const f of features) {
      for (const w of f.workers ?? []) {
        if ('queue' in w.trigger) expect(ownerOf.get(w.trigger.queue), w.id).toBe(f.id);
      }
    }
  });

  it("declares the event types each feature's ingest consumers apply, exactly", () => {
    const declared = features.flatMap((f) => f.consumes ?? []);
    const universe = new Set([...declared, ...eventCatalog.map((e) => e.name), 'workspace.unknown']);
    for (const c of consumers) {
      const owner = features.find((f) => c.name === f.id || c.name.startsWith(`${f.id}.`));
      expect(owner, c.name).toBeDefined();
    }
    for (const f of features) {
      const own = consumers.filter((c) => c.name === f.id || c.name.startsWith(`${f.id}.`));
      const applied = [...universe].filter((t) => own.some((c) => c.accepts(t))).sort();
      expect(applied, f.id).toEqual([...(f.consumes ?? [])].sort());
    }
  });

  it('names only real settings, and every setting belongs to a feature or the platform', () => {
    const known = Object.keys(configSchema.entries);
    const claimed = features.flatMap((f) => f.settings ?? []);
    for (const s of claimed) expect(known, s).toContain(s);
    expect(known.filter((k) => !claimed.includes(k) && !PLATFORM_SETTINGS.includes(k))).toEqual([]);
  });
});

describe('route table', () => {
  it('registers every product endpoint', () => {
    const registered = new Set(routeList.map((r) => `${r.method} ${r.path}`));
    expect(PRODUCT_ENDPOINTS.filter((e) => !registered.has(e))).toEqual([]);
  });

  it("is the registry: every feature's rows, in registry order", () => {
    expect(routeList).toEqual(features.flatMap((f) => Object.values(f.routes)));
    expect(Object.keys(routes)).toEqual(routeList.map((r) => r.id));
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
      const declared = r.params
        ? Object.keys((r.params as unknown as { entries: object }).entries).sort()
        : [];
      expect(declared, r.id).toEqual(inPath);
    }
  });

  it('requires only scopes of the catalog', () => {
    for (const r of routeList) for (const s of r.scopes) expect(isKnownScope(s), `${r.id} ${s}`).toBe(true);
  });

  it("gives token-accepting routes a required scope (except the caller's own rate limit and the workspace's counters)", () => {
    const scopeless = routeList.filter((x) => x.auth === 'user_or_token' && x.scopes.length === 0);
    expect(scopeless.map((r) => r.id).sort()).toEqual(['getRateLimit', 'workspaceStatus']);
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
    expect(pick('GET', '/bindings/targets')).toBe('listBindingTargets');
    expect(pick('GET', '/bindings/bnd_1')).toBe('getBinding');
    expect(pick('GET', '/oauth/apps/github/resources')).toBe('getOAuthAppResources');
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
