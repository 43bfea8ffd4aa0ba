import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { routeList, routes } from '#functions/routes.ts';
import { lambdaContext } from '#infra/local/lambda-event.ts';
import { ConflictError } from '#shared/errors.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { buildOpenApi } from '#shared/http/openapi.ts';
import { fullPath, type RouteDef } from '#shared/http/route.ts';
import { declaredStatuses, derivedErrors } from '#shared/http/statuses.ts';
import { check } from '#shared/validation.ts';
import { httpEvent } from '#test/helpers/http-event.ts';
import { drainUndeclared } from '#test/helpers/response-audit.ts';

type Op = {
  requestBody?: { required: boolean };
  responses: Record<
    string,
    { content?: Record<string, { schema: Record<string, unknown> }>; headers?: object }
  >;
};
const doc = buildOpenApi(routeList, 'https://api.example.test');
const opOf = (r: RouteDef) =>
  (doc.paths as Record<string, Record<string, Op>>)[fullPath(r)]?.[r.method.toLowerCase()] as Op;
const statusesOf = (r: RouteDef) => Object.keys(opOf(r).responses).map(Number);

describe('OpenAPI statuses', () => {
  it.each(routeList.map((r) => [r.id, r]))('%s declares what the shared chain can answer', (_id, r) => {
    const s = statusesOf(r);
    expect(s).toContain(500);
    expect(s).toContain(413);
    if (r.auth !== 'public') expect(s).toEqual(expect.arrayContaining([400, 401, 403, 503]));
    expect(s.includes(429)).toBe(r.auth !== 'public' && r.rateLimit !== 'exempt');
    if (r.body) expect(s).toEqual(expect.arrayContaining([400, 415]));
    if (r.params || r.query) expect(s).toContain(400);
    if (/\{\w*id\}/.test(r.path)) expect(s).toContain(404);
    expect(s.includes(501)).toBe(!!r.pending);
    expect(s.sort((a, b) => a - b)).toEqual(declaredStatuses(r));
  });

  it('gives every error a problem+json schema', () => {
    for (const r of routeList) {
      for (const [status, res] of Object.entries(opOf(r).responses)) {
        if (Number(status) < 400) continue;
        expect(res.content?.['application/problem+json'], `${r.id} ${status}`).toBeDefined();
      }
    }
  });

  it('documents the headers and extra members of the chain’s errors', () => {
    const op = opOf(routes.listWebhooks);
    expect(op.responses['429']?.headers).toHaveProperty('Retry-After');
    expect(op.responses['401']?.headers).toHaveProperty('WWW-Authenticate');
    const forbidden = op.responses['403']?.content?.['application/problem+json']?.schema as {
      properties: Record<string, unknown>;
    };
    expect(Object.keys(forbidden.properties)).toEqual(
      expect.arrayContaining(['required_scopes', 'required_role']),
    );
  });

  it('keeps what a row declares and adds problem+json where the row answers another type', () => {
    const redirect = opOf(routes.oauthCallbackRedirect).responses['400']?.content ?? {};
    expect(Object.keys(redirect).sort()).toEqual(['application/problem+json', 'text/html']);
  });

  it('declares the handlers’ own conflicts (redeliver, rotate, create)', () => {
    for (const r of [routes.redeliver, routes.rotateToken, routes.createToken, routes.createWebhook]) {
      expect(statusesOf(r), r.id).toContain(409);
    }
  });

  it('documents a body the schema lets out as not required, and others as required', () => {
    expect(opOf(routes.rotateToken).requestBody?.required).toBe(false);
    expect(opOf(routes.createToken).requestBody?.required).toBe(true);
    for (const r of routeList) {
      if (!r.body) continue;
      expect(opOf(r).requestBody?.required, r.id).toBe(!check(r.body, undefined).success);
    }
  });

  it('derives nothing beyond 413 and 500 for a public route without input', () => {
    const r = { ...routes.health, responses: {} } as RouteDef;
    expect(Object.keys(derivedErrors(r)).map(Number)).toEqual([413, 500]);
  });
});

describe('response audit (test/helpers/response-audit.ts)', () => {
  it('records an answer whose status the operation does not declare', async () => {
    // A row of the table that answers a status it does not declare: the audit must catch it.
    const r = {
      ...routes.openapi,
      responses: { 200: { description: 'ok', schema: v.unknown() } },
    } as RouteDef;
    const handler = endpoint(r, () => {
      throw new ConflictError('undeclared');
    });
    const res = await handler(httpEvent(r), lambdaContext('openapi'));
    expect(res.statusCode).toBe(409);
    expect(drainUndeclared()).toEqual([expect.objectContaining({ route: 'openapi', status: 409 })]);
  });

  it('lets declared answers pass', async () => {
    const r = {
      ...routes.openapi,
      responses: { 200: { description: 'ok', schema: v.unknown() } },
    } as RouteDef;
    const handler = endpoint(r, () => ({ status: 200, body: {} }));
    expect((await handler(httpEvent(r), lambdaContext('openapi'))).statusCode).toBe(200);
    expect(drainUndeclared()).toEqual([]);
  });
});
