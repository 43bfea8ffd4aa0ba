/**
 * The System routes: one row per endpoint; the feature's defaults are stated once in `route`.
 * Handlers of this feature import this module, never the whole surface (functions/features.ts).
 */
import * as v from 'valibot';
import { problemSchema } from '#shared/http/problem.ts';
import { featureRoute, type RouteDef } from '#shared/http/route.ts';
import {
  docsAssetParams,
  healthSchema,
  problemTypeListSchema,
  problemTypeParams,
  problemTypeSchema,
  statusSchema,
  workspaceStatusSchema,
} from '#shared/system/schemas.ts';
import { record } from '#shared/validation.ts';

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
  workspaceStatus: route({
    id: 'workspaceStatus',
    method: 'GET',
    path: '/status/workspace',
    handler: 'system/get-workspace-status',
    // Counts only, no resource of any feature: any credential of the workspace, no scope.
    auth: 'user_or_token',
    summary:
      "The workspace's view per feature (tokens, webhooks, OAuth connections, plugins, consents, bindings); for an operator, also the service-wide view, the DLQ depths and the cascades in progress",
    responses: {
      200: { description: 'Counters of the workspace (and of the service)', schema: workspaceStatusSchema },
    },
    grants: ['table:read', 'queue:dlqs:read-attributes'],
  }),
  openapi: route({
    id: 'openapi',
    method: 'GET',
    path: '/openapi.json',
    handler: 'system/get-openapi',
    summary: 'This API as an OpenAPI 3.1 document',
    responses: { 200: { description: 'OpenAPI document', schema: record(v.string(), v.unknown()) } },
  }),
  docs: route({
    id: 'docs',
    method: 'GET',
    path: '/docs',
    handler: 'system/get-docs',
    summary: 'This API as a browsable reference page (Swagger UI over the OpenAPI document)',
    responses: { 200: { description: 'The reference page', contentType: 'text/html' } },
  }),
  docsAsset: route({
    id: 'docsAsset',
    method: 'GET',
    path: '/docs/assets/{name}',
    handler: 'system/get-docs-asset',
    summary: 'A script or stylesheet of the reference page (vendored Swagger UI, served by this service)',
    params: docsAssetParams,
    responses: {
      200: { description: 'The asset (text/javascript or text/css)', contentType: 'text/javascript' },
      404: { description: 'No asset of that name', schema: problemSchema },
    },
  }),
  problemTypes: route({
    id: 'problemTypes',
    method: 'GET',
    path: '/problems',
    handler: 'system/get-problem-types',
    summary: 'Every problem type errors can carry (the `type` of a problem+json answer)',
    responses: { 200: { description: 'The problem types', schema: problemTypeListSchema } },
  }),
  problemType: route({
    id: 'problemType',
    method: 'GET',
    path: '/problems/{name}',
    handler: 'system/get-problem-type',
    summary:
      'What a problem type means and how to fix it: JSON, or an HTML page when the client prefers text/html (a browser)',
    params: problemTypeParams,
    responses: {
      200: {
        description: 'The problem type (JSON; HTML with `Accept: text/html`)',
        schema: problemTypeSchema,
      },
      404: { description: 'No problem type of that name', schema: problemSchema },
    },
  }),
} satisfies Record<string, RouteDef>;
