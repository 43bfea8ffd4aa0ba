/**
 * Every route by id, typed, derived from the registry: for tests and local tools only. Each
 * feature's rows live in its own `functions/<feature>/routes.ts`, and a handler imports only
 * those: a handler importing this module would bundle every feature's rows, and any row edit
 * anywhere would change its asset.
 */
import { features, type Registry, routeList as registryRoutes } from './features.ts';

type Feature = Registry[number];
/** `A | B` → `A & B`: every feature's rows in one object type. */
type Merged<U> = (U extends unknown ? (k: U) => void : never) extends (k: infer I) => void ? I : never;

export const routes = Object.assign({}, ...features.map((f) => f.routes)) as Merged<Feature['routes']>;

export type RouteId = keyof typeof routes;

/** Every route, in registry order. */
export const routeList = registryRoutes;
