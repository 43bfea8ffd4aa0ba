/**
 * Every route by id, typed: for tests and local tools only. Each feature's rows live in its own
 * `functions/<feature>/routes.ts`, and a handler imports only those: a handler importing this
 * module would bundle every feature's rows, and any row edit anywhere would change its asset.
 */
import { routes as bindings } from './bindings/routes.ts';
import { routes as consents } from './consents/routes.ts';
import { routes as oauth } from './oauth/routes.ts';
import { routes as plugins } from './plugins/routes.ts';
import { routes as system } from './system/routes.ts';
import { routes as tokens } from './tokens/routes.ts';
import { routes as webhooks } from './webhooks/routes.ts';

export const routes = { ...system, ...tokens, ...webhooks, ...oauth, ...bindings, ...plugins, ...consents };

export type RouteId = keyof typeof routes;

/** Every route, in feature order. */
export const routeList = Object.values(routes);
