import { config } from '#shared/config.ts';
import { jsonSchemaOf } from '#shared/json-schema.ts';
import type { Schema } from '#shared/validation.ts';
import { problemSchema, problemTypeUri } from './problem.ts';
import { problemNamesFor } from './problem-catalog.ts';
import { API_PREFIX, type CallerKind, fullPath, type RouteDef } from './route.ts';
import { bodyOptional, derivedErrors } from './statuses.ts';

type Json = Record<string, unknown>;

const security: Record<CallerKind, Json[]> = {
  public: [],
  user: [{ sessionJwt: [] }],
  user_or_token: [{ sessionJwt: [] }, { apiToken: [] }],
};

function parameters(schema: Schema | undefined, where: 'path' | 'query'): Json[] {
  if (!schema) return [];
  const json = jsonSchemaOf(schema, 'input') as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (json.required ?? []).includes(name),
    schema: s,
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
  }));
}

const PROBLEM_JSON = 'application/problem+json';

function operation(r: RouteDef): Json {
  const responses: Json = {};
  for (const [status, def] of Object.entries(r.responses)) {
    const type = def.contentType ?? (Number(status) >= 400 ? PROBLEM_JSON : 'application/json');
    responses[status] = {
      description: def.description,
      ...(def.schema || def.contentType
        ? {
            content: {
              [type]: { schema: def.schema ? jsonSchemaOf(def.schema, 'output') : { type: 'string' } },
            },
          }
        : {}),
    };
  }
  // What the shared chain answers (statuses.ts): a row's own declaration of the same status keeps
  // its description and schema, and gains the problem+json content when it declared another type
  // (a validation failure is problem+json even where the handler answers HTML).
  for (const [status, d] of Object.entries(derivedErrors(r))) {
    const content = {
      [PROBLEM_JSON]: {
        schema: d.schema ? jsonSchemaOf(d.schema, 'output') : { $ref: '#/components/schemas/Problem' },
      },
    };
    const headers = d.headers
      ? Object.fromEntries(
          Object.entries(d.headers).map(([name, h]) => [
            name,
            { description: h.description, required: h.required ?? false, schema: { type: 'string' } },
          ]),
        )
      : undefined;
    const own = responses[status] as { content?: Json; headers?: Json } | undefined;
    if (own) {
      own.content = { ...content, ...(own.content ?? {}) };
      if (headers) own.headers = { ...headers, ...(own.headers ?? {}) };
      continue;
    }
    responses[status] = { description: d.description, ...(headers ? { headers } : {}), content };
  }
  // Each problem answer links the pages of the problem types it can carry (GET /problems/{name}).
  for (const [status, res] of Object.entries(responses) as [
    string,
    { description: string; content?: Json },
  ][]) {
    if (!res.content?.[PROBLEM_JSON]) continue;
    const names = problemNamesFor(Number(status), r.tag);
    if (!names.length) continue;
    const links = names.map((n) => `[\`${n}\`](${API_PREFIX}/problems/${n})`).join(', ');
    responses[status] = {
      ...res,
      description: `${res.description}. Problem type${names.length > 1 ? 's' : ''}: ${links}`,
      'x-problem-types': names.map((n) => ({ type: problemTypeUri(n), page: `${API_PREFIX}/problems/${n}` })),
    };
  }
  return {
    operationId: r.id,
    summary: r.summary,
    tags: [r.tag],
    security: security[r.auth],
    ...(r.scopes.length ? { 'x-required-scopes': r.scopes } : {}),
    ...(r.auth !== 'public' ? { 'x-rate-limit': r.rateLimit ?? 'api' } : {}),
    ...(r.pending
      ? { 'x-pending': r.pending, description: `Not implemented yet: answers 501 (${r.pending}).` }
      : {}),
    parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
    ...(r.body
      ? {
          requestBody: {
            // Derived from the schema: a body schema that accepts no body documents an optional body.
            required: !bodyOptional(r),
            content: { 'application/json': { schema: jsonSchemaOf(r.body, 'input') } },
          },
        }
      : {}),
    responses,
  };
}

/**
 * The OpenAPI 3.1 document of the service, generated from the route table's schemas.
 * `version` defaults to SERVICE_VERSION (the stacks pass one at synth, where no settings are read).
 */
export function buildOpenApi(routes: RouteDef[], serverUrl?: string, version?: string): Json {
  const paths: Record<string, Json> = {};
  for (const r of routes) {
    const path = fullPath(r);
    paths[path] ??= {};
    (paths[path] as Json)[r.method.toLowerCase()] = operation(r);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'PronaFlow Integrations API',
      version: version ?? config().SERVICE_VERSION,
      description:
        'API tokens, webhooks, OAuth connections, sync bindings, plugins and consents. Errors are RFC 9457 problem+json.',
    },
    externalDocs: {
      description:
        'Every problem type (the `type` of a problem+json answer): what it means and how to fix it',
      url: `${API_PREFIX}/problems`,
    },
    servers: serverUrl ? [{ url: serverUrl }] : [],
    paths,
    components: {
      schemas: { Problem: jsonSchemaOf(problemSchema, 'output') },
      securitySchemes: {
        sessionJwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'PronaFlow session' },
        apiToken: { type: 'http', scheme: 'bearer', description: 'Personal access token (pfi_…)' },
      },
    },
  };
}
