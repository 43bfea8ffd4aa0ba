/**
 * The System routes: one row per endpoint; the feature's defaults are stated once in `route`.
 * Handlers of this feature import this module, never the whole surface (functions/features.ts).
 */
import * as z from 'zod';
import { featureRoute, type RouteDef } from '#shared/http/route.ts';
import { healthSchema, statusSchema } from '#shared/system/schemas.ts';

const route = featureRoute({ tag: 'System', auth: 'public', scopes: [] });

export const routes = {
  health: route({
    id: 'health',
    method: 'GET',
    path: '/health',
    handler: 'system/get-health',
    summary: 'Health check with component status',
    responses: {
      200: { description: 'Every component is healthy', schema: healthSchema },
      503: { description: 'A component is failing', schema: healthSchema },
    },
    grants: ['table:read'],
  }),
  status: route({
    id: 'status',
    method: 'GET',
    path: '/status',
    handler: 'system/get-status',
    summary: 'Service version, which capabilities are available, and background work in progress',
    responses: { 200: { description: 'Service status', schema: statusSchema } },
    grants: ['table:read'],
  }),
  openapi: route({
    id: 'openapi',
    method: 'GET',
    path: '/openapi.json',
    handler: 'system/get-openapi',
    summary: 'This API as an OpenAPI 3.1 document',
    responses: { 200: { description: 'OpenAPI document', schema: z.record(z.string(), z.unknown()) } },
  }),
} satisfies Record<string, RouteDef>;
