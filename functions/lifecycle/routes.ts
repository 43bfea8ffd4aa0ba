import type { RouteDef } from '#shared/http/route.ts';

/**
 * The Lifecycle routes: none. A cascade is started by PronaFlow's deletion events and followed
 * on `GET /status` (its `lifecycle_cascades` line), which the system feature serves.
 */
export const routes = {} satisfies Record<string, RouteDef>;
