import { randomUUID } from 'node:crypto';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { config } from '#shared/config.ts';
import { CORRELATION_HEADER, correlationIdFrom, withCorrelation } from '#shared/correlation.ts';
import { NotImplementedError } from '#shared/errors.ts';
import { logger } from '#shared/logger.ts';
import { inSubsegment } from '#shared/tracing.ts';
import { check, formatIssues, type Output, type Schema } from '#shared/validation.ts';
import type { Caller } from './caller.ts';
import { errorHandler } from './middleware/error-handler.ts';
import { jsonBody } from './middleware/json-body.ts';
import { requestContext } from './middleware/request-context.ts';
import { responseHeaders } from './middleware/response-headers.ts';
import type { Reply } from './reply.ts';
import type { RouteDef } from './route.ts';
import { type HttpEvent, type HttpMiddleware, type HttpResult, stateOf } from './types.ts';
import { parseInput } from './validate.ts';

type Infer<S> = S extends Schema ? Output<S> : undefined;

/** What a handler receives: validated input and the caller. */
export interface EndpointInput<P, Q, B> {
  params: Infer<P>;
  query: Infer<Q>;
  body: Infer<B>;
  /** Present on every route that is not public. */
  caller: Caller;
  event: HttpEvent;
  requestId: string;
}

/** The middlewares a route's handler runs, in order (see {@link makeEndpoint}). */
export type MiddlewareChain = (route: RouteDef) => HttpMiddleware[];

/**
 * The chain of public routes: request context, response headers, the error handler and JSON
 * body parsing. Routes that are not public need a chain with access control (the tokens
 * feature's, through `accessChain` of `./access-chain.ts`); this module imports none of it, so a
 * public function bundles no credential code.
 */
export const publicChain: MiddlewareChain = (route) => {
  if (route.auth !== 'public') {
    throw new Error(
      `Route ${route.id} is not public: build its handler with makeEndpoint(accessChain(access))`,
    );
  }
  return [requestContext(route), responseHeaders(), errorHandler(), jsonBody()];
};

/** A handler builder for routes: see {@link makeEndpoint}. */
export type EndpointBuilder = <P extends Schema, Q extends Schema, B extends Schema>(
  route: RouteDef<P, Q, B>,
  fn: (input: EndpointInput<P, Q, B>) => Promise<Reply> | Reply,
) => ReturnType<typeof build>;

/**
 * A handler builder whose handlers run `chain`: `accessChain(access)` for a service whose
 * credentials `access` verifies (the tokens feature provides it; the platform knows no feature),
 * {@link publicChain} (the default) for public routes only.
 */
export function makeEndpoint(chain: MiddlewareChain = publicChain): EndpointBuilder {
  return (route, fn) => build(route, fn, chain);
}

/** Builds handlers of public routes (see {@link makeEndpoint}). */
export const endpoint: EndpointBuilder = makeEndpoint();

/**
 * Builds a Lambda handler for a route: the shared middy chain, input validation against the
 * route's schemas, then `fn`. The reply is then parsed with the route's response schema, in
 * every environment, and what is sent is the parsed value: fields the schema does not declare
 * are stripped (a whitelist, so a stray internal field such as a hash never leaks), and a reply
 * that breaks its schema or has an undeclared status is a 500 (logged), never a wrong answer.
 */
function build<P extends Schema, Q extends Schema, B extends Schema>(
  route: RouteDef<P, Q, B>,
  fn: (input: EndpointInput<P, Q, B>) => Promise<Reply> | Reply,
  chain: MiddlewareChain,
) {
  // Settings are checked when the function starts (Lambda init), not on its first request:
  // a bad value fails the deployment's first invocation loudly, naming the variable.
  config();
  const core = async (event: HttpEvent): Promise<HttpResult> => {
    const state = stateOf(event);
    const params = route.params ? parseInput(route.params, event.pathParameters ?? {}, 'path') : undefined;
    const query = route.query
      ? parseInput(route.query, event.queryStringParameters ?? {}, 'query')
      : undefined;
    const body = route.body ? parseInput(route.body, state.json ?? undefined, 'body') : undefined;
    const reply = await fn({
      params: params as Infer<P>,
      query: query as Infer<Q>,
      body: body as Infer<B>,
      caller: state.caller as Caller,
      event,
      requestId: state.requestId,
    });
    return toResult(conformReply(route as RouteDef, reply));
  };
  const middlewares = middy<HttpEvent, HttpResult, Error, Context>({ timeoutEarlyInMillis: 0 });
  for (const m of chain(route as RouteDef)) {
    middlewares.use(m as middy.MiddlewareObj<HttpEvent, HttpResult, Error, Context>);
  }
  const handler = middlewares.handler(core);
  // The request runs inside its correlation (shared/correlation.ts): the caller's X-Correlation-Id
  // or, without one, the request id; log lines, queue messages and the answer carry it. Traced as
  // one subsegment annotated with the route and the correlation id (shared/tracing.ts).
  const correlated = (event: HttpEvent, context: Context) => {
    const requestId = event?.requestContext?.requestId || randomUUID();
    const header = event?.headers?.[CORRELATION_HEADER.toLowerCase()];
    const correlationId = correlationIdFrom(header, requestId);
    return withCorrelation({ correlation_id: correlationId, request_id: requestId }, () =>
      inSubsegment(route.id, { route: route.id, correlation_id: correlationId }, () =>
        handler(event, context),
      ),
    );
  };
  return Object.assign(correlated, handler) as typeof handler;
}

/**
 * A route that is registered but not built yet: always 501 problem+json naming the capability
 * (after the same authentication, rate limit and validation as when it is built).
 */
export function notImplemented(route: RouteDef, builder: EndpointBuilder = endpoint) {
  return builder(route, () => {
    throw new NotImplementedError(route.pending ?? route.summary);
  });
}

function toResult(reply: Reply): HttpResult {
  if (reply.raw) {
    return {
      statusCode: reply.status,
      headers: { 'Content-Type': reply.raw.contentType, ...reply.headers },
      body: reply.raw.text,
    };
  }
  if (reply.body === undefined) return { statusCode: reply.status, headers: reply.headers ?? {}, body: '' };
  return {
    statusCode: reply.status,
    headers: { 'Content-Type': 'application/json', ...reply.headers },
    body: JSON.stringify(reply.body),
  };
}

/** The reply as its route declares it: the body parsed (and so stripped) by the status's schema. */
export function conformReply(route: RouteDef, reply: Reply): Reply {
  const def = route.responses[reply.status];
  if (!def) {
    logger.error('undeclared response status', { status: reply.status });
    throw new Error(`Route ${route.id} answered ${reply.status}, which its route table row does not declare`);
  }
  if (!def.schema || reply.raw) return reply;
  const result = check(def.schema, reply.body);
  if (!result.success) {
    logger.error('response breaks its schema', {
      status: reply.status,
      issues: result.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
    });
    throw new Error(
      `Route ${route.id} answered a ${reply.status} body that breaks its schema: ${formatIssues(result.issues)}`,
    );
  }
  return { ...reply, body: result.data };
}
