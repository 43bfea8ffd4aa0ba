import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { lambdaContext } from '#infra/local/lambda-event.ts';
import { fullPath, type RouteDef } from '#shared/http/route.ts';

export interface EventInput {
  params?: Record<string, string>;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** An object is sent as JSON; a string as is. */
  body?: unknown;
  token?: string;
  sourceIp?: string;
}

/** An API Gateway HTTP API (2.0) event for a route, as AWS would send it. */
export function httpEvent(route: RouteDef, input: EventInput = {}): APIGatewayProxyEventV2 {
  let path = fullPath(route);
  for (const [k, v] of Object.entries(input.params ?? {}))
    path = path.replace(`{${k}}`, encodeURIComponent(v));
  const headers: Record<string, string> = {
    host: 'api.test',
    ...(input.body !== undefined ? { 'content-type': 'application/json' } : {}),
    ...(input.token ? { authorization: `Bearer ${input.token}` } : {}),
    ...Object.fromEntries(Object.entries(input.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
  };
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: `${route.method} ${fullPath(route)}`,
    rawPath: path,
    rawQueryString: new URLSearchParams(input.query ?? {}).toString(),
    headers,
    ...(input.query ? { queryStringParameters: input.query } : {}),
    ...(input.params ? { pathParameters: input.params } : {}),
    requestContext: {
      accountId: 'test',
      apiId: 'test',
      domainName: 'api.test',
      domainPrefix: 'api',
      http: {
        method: route.method,
        path,
        protocol: 'HTTP/1.1',
        sourceIp: input.sourceIp ?? '203.0.113.7',
        userAgent: 'vitest',
      },
      requestId: randomUUID(),
      routeKey: `${route.method} ${fullPath(route)}`,
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
    ...(input.body !== undefined
      ? { body: typeof input.body === 'string' ? input.body : JSON.stringify(input.body) }
      : {}),
    isBase64Encoded: false,
  };
}

export interface Answer {
  status: number;
  headers: Record<string, string>;
  // biome-ignore lint/suspicious/noExplicitAny: tests read response bodies of every shape
  body: any;
}

type Handler = (
  event: APIGatewayProxyEventV2,
  context: unknown,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** Invokes a handler with an event for `route` and parses its JSON answer. */
export async function invoke(handler: unknown, route: RouteDef, input: EventInput = {}): Promise<Answer> {
  const result = await (handler as Handler)(httpEvent(route, input), lambdaContext(route.id));
  const headers = Object.fromEntries(
    Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]),
  );
  const text = result.body ?? '';
  const json = /json/.test(headers['content-type'] ?? '') && text ? JSON.parse(text) : text;
  return { status: result.statusCode ?? 200, headers, body: json };
}
