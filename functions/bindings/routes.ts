/**
 * The Sync bindings routes: one row per endpoint; the feature's defaults are stated once in `route`.
 * Handlers of this feature import this module, never the whole surface (functions/features.ts).
 */
import { createBindingBody, updateBindingBody } from '#shared/bindings/schemas.ts';
import { idParams, pageQuery, pending } from '#shared/http/common-params.ts';
import { featureRoute, type RouteDef } from '#shared/http/route.ts';

const route = featureRoute({ tag: 'Sync bindings', auth: 'user_or_token' });

export const routes = {
  createBinding: route({
    id: 'createBinding',
    method: 'POST',
    path: '/bindings',
    handler: 'bindings/create-binding',
    scopes: ['write:integrations'],
    summary: 'Create a field mapping between an external resource and PronaFlow',
    body: createBindingBody,
    responses: pending,
    pending: 'Data sync bindings',
  }),
  listBindings: route({
    id: 'listBindings',
    method: 'GET',
    path: '/bindings',
    handler: 'bindings/list-bindings',
    scopes: ['read:integrations'],
    summary: "List the workspace's bindings",
    query: pageQuery,
    responses: pending,
    pending: 'Data sync bindings',
  }),
  updateBinding: route({
    id: 'updateBinding',
    method: 'PATCH',
    path: '/bindings/{id}',
    handler: 'bindings/update-binding',
    scopes: ['write:integrations'],
    summary: 'Update a mapping',
    params: idParams,
    body: updateBindingBody,
    responses: pending,
    pending: 'Data sync bindings',
  }),
  deleteBinding: route({
    id: 'deleteBinding',
    method: 'DELETE',
    path: '/bindings/{id}',
    handler: 'bindings/delete-binding',
    scopes: ['write:integrations'],
    summary: 'Remove a binding',
    params: idParams,
    responses: pending,
    pending: 'Data sync bindings',
  }),
  syncBinding: route({
    id: 'syncBinding',
    method: 'POST',
    path: '/bindings/{id}/sync',
    handler: 'bindings/sync-binding',
    scopes: ['write:integrations'],
    summary: 'Trigger a sync in the background',
    params: idParams,
    responses: pending,
    pending: 'Data sync bindings',
  }),
} satisfies Record<string, RouteDef>;
