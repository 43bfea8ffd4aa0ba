import type { Request } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { Caller } from './caller.ts';
import type { RouteDef } from './route.ts';

/** Per-request state the middlewares share. */
export interface RequestState {
  route: RouteDef;
  requestId: string;
  startedAt: number;
  caller?: Caller;
  /** Parsed JSON body (before validation). */
  json?: unknown;
  /** Headers every response of this request carries (rate-limit headers, …). */
  headers: Record<string, string>;
}

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2;
export type HttpRequest = Request<HttpEvent, HttpResult, Error, Context> & { state: RequestState };

/** A middy middleware over our request type. */
export interface HttpMiddleware {
  name?: string;
  before?: (request: HttpRequest) => unknown;
  after?: (request: HttpRequest) => unknown;
  onError?: (request: HttpRequest) => unknown;
}

const states = new WeakMap<HttpEvent, RequestState>();

/** Attaches the request state to its event, so the handler (which middy gives only the event) finds it. */
export function attachState(event: HttpEvent, state: RequestState): RequestState {
  states.set(event, state);
  return state;
}

/** The state of the request carrying `event`. */
export function stateOf(event: HttpEvent): RequestState {
  const state = states.get(event);
  if (!state) throw new Error('Request state missing: the request-context middleware did not run');
  return state;
}
