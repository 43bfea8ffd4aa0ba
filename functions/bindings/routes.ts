/**
 * The Sync bindings routes: one row per endpoint; the feature's defaults are stated once in `route`.
 * Handlers of this feature import this module, never the whole surface (functions/features.ts).
 *
 * Who may change a binding: any workspace member or an API token with `write:integrations`
 * (`admin:integrations` includes it). No `role` is set: a row's `role` is demanded on top of its
 * scopes, and a member's own connection is what a binding syncs through, so requiring the admin
 * role would keep members from binding their own connections. Reading needs `read:integrations`.
 */
import * as v from 'valibot';
import {
  bindingForbiddenSchema,
  bindingPageSchema,
  bindingParams,
  bindingProblemSchema,
  bindingSchema,
  createBindingBody,
  listBindingsQuery,
  previewBody,
  previewSchema,
  runPageSchema,
  runParams,
  runSchema,
  syncBindingBody,
  targetsSchema,
  updateBindingBody,
} from '#shared/bindings/schemas.ts';
import { pageQuery } from '#shared/http/common-params.ts';
import { featureRoute, type RouteDef } from '#shared/http/route.ts';

const route = featureRoute({ tag: 'Sync bindings', auth: 'user_or_token', grants: ['table:read'] });

const problem = (description: string) => ({ description, schema: bindingProblemSchema });
const writes = ['table:read', 'table:write'] as const;
const notFound = problem("No such binding (another workspace's is never found)");
const consentProblem = {
  description:
    'Not allowed (`required_scopes`), or the connection’s owner has no live THIRD_PARTY consent for it (`consent_required` names the consent to grant)',
  schema: bindingForbiddenSchema,
};

export const routes = {
  listBindingTargets: route({
    id: 'listBindingTargets',
    method: 'GET',
    path: '/bindings/targets',
    handler: 'bindings/list-binding-targets',
    scopes: ['read:integrations'],
    summary: "PronaFlow's fields a mapping can target, per entity (task, comment)",
    responses: { 200: { description: 'The target fields of each entity', schema: targetsSchema } },
    grants: [],
  }),
  createBinding: route({
    id: 'createBinding',
    method: 'POST',
    path: '/bindings',
    handler: 'bindings/create-binding',
    scopes: ['write:integrations'],
    summary:
      "Bind a resource of one of your connections (a repository's issues, a channel) to PronaFlow tasks or comments, with a field mapping and an optional schedule",
    body: createBindingBody,
    responses: {
      201: {
        description: 'The binding, ACTIVE; no run is started until requested or scheduled',
        schema: bindingSchema,
      },
      400: problem(
        'The app has no sync adapter, an unknown resource type or kind, a bad locator field (`body.resource.<field>`), an entity the kind does not sync, a direction the provider cannot write, or mapping problems (each in `errors[]`, e.g. `body.field_mapping.2.source`)',
      ),
      403: consentProblem,
      404: problem("No such connection of yours (another user's or workspace's is never found)"),
      409: problem(
        'The connection has expired (connect again), a binding of this resource and entity exists on the connection (`binding_id`), or the workspace holds the most bindings it may (`limit`)',
      ),
    },
    grants: [...writes],
  }),
  listBindings: route({
    id: 'listBindings',
    method: 'GET',
    path: '/bindings',
    handler: 'bindings/list-bindings',
    scopes: ['read:integrations'],
    summary: "The workspace's bindings, oldest first, by connection, app or status",
    query: listBindingsQuery,
    responses: { 200: { description: 'A page of bindings', schema: bindingPageSchema } },
  }),
  getBinding: route({
    id: 'getBinding',
    method: 'GET',
    path: '/bindings/{id}',
    handler: 'bindings/get-binding',
    scopes: ['read:integrations'],
    summary:
      'A binding: its mapping (where each entry applies), status, run in progress, last run and checkpoint',
    params: bindingParams,
    responses: { 200: { description: 'The binding', schema: bindingSchema }, 404: notFound },
  }),
  updateBinding: route({
    id: 'updateBinding',
    method: 'PATCH',
    path: '/bindings/{id}',
    handler: 'bindings/update-binding',
    scopes: ['write:integrations'],
    summary:
      'Change the mapping (validated again), schedule, conflict policy or project; pause (`active: false`) or resume (`active: true`, needs the consent)',
    params: bindingParams,
    body: updateBindingBody,
    responses: {
      200: { description: 'The binding as changed', schema: bindingSchema },
      400: problem('Mapping problems (each in `errors[]`), or the app can no longer be synced'),
      403: consentProblem,
      404: notFound,
      409: problem('The binding changed meanwhile (read it again), or its connection has expired'),
    },
    grants: [...writes],
  }),
  deleteBinding: route({
    id: 'deleteBinding',
    method: 'DELETE',
    path: '/bindings/{id}',
    handler: 'bindings/delete-binding',
    scopes: ['write:integrations'],
    summary:
      'Delete a binding with its runs, links and pending changes (PronaFlow records stay); a run in progress stops',
    params: bindingParams,
    responses: { 204: { description: 'Deleted' }, 404: notFound },
    grants: [...writes],
  }),
  syncBinding: route({
    id: 'syncBinding',
    method: 'POST',
    path: '/bindings/{id}/sync',
    handler: 'bindings/sync-binding',
    scopes: ['write:integrations'],
    summary:
      'Start a run now (in the background): the changes since the checkpoint, or everything with `full`',
    params: bindingParams,
    body: syncBindingBody,
    responses: {
      202: {
        description: 'The run, QUEUED: follow it with GET /bindings/{id}/runs/{run_id}',
        schema: v.object({
          ...runSchema.entries,
          run_id: v.pipe(v.string(), v.description('The run queued (its `id`)')),
        }),
      },
      403: consentProblem,
      404: notFound,
      409: problem(
        'A run is in progress (`run_id`), or the binding is not ACTIVE (`binding_status`, `status_reason`: paused, consent revoked, connection expired)',
      ),
    },
    grants: ['table:read', 'table:write', 'queue:sync:send', 'queue:ingest:send'],
  }),
  listBindingRuns: route({
    id: 'listBindingRuns',
    method: 'GET',
    path: '/bindings/{id}/runs',
    handler: 'bindings/list-binding-runs',
    scopes: ['read:integrations'],
    summary: "A binding's runs, newest first (kept 90 days)",
    params: bindingParams,
    query: pageQuery,
    responses: { 200: { description: 'A page of runs', schema: runPageSchema }, 404: notFound },
  }),
  getBindingRun: route({
    id: 'getBindingRun',
    method: 'GET',
    path: '/bindings/{id}/runs/{run_id}',
    handler: 'bindings/get-binding-run',
    scopes: ['read:integrations'],
    summary:
      'One run: status, counts per direction, record errors, checkpoints, provider calls and rate-limit waits',
    params: runParams,
    responses: { 200: { description: 'The run', schema: runSchema }, 404: problem('No such binding or run') },
  }),
  cancelBindingRun: route({
    id: 'cancelBindingRun',
    method: 'POST',
    path: '/bindings/{id}/runs/{run_id}/cancel',
    handler: 'bindings/cancel-binding-run',
    scopes: ['write:integrations'],
    summary:
      'Cancel a run: a QUEUED one, or a RUNNING one no invocation is working, ends CANCELLED at once; one being worked stops after its current page; a finished one is returned as it is',
    params: runParams,
    responses: { 200: { description: 'The run', schema: runSchema }, 404: problem('No such binding or run') },
    grants: [...writes],
  }),
  previewBinding: route({
    id: 'previewBinding',
    method: 'POST',
    path: '/bindings/{id}/preview',
    handler: 'bindings/preview-binding',
    scopes: ['read:integrations'],
    summary:
      "Try the mapping on a record (given, or the provider's first) without writing anything: the PronaFlow values it gives and, for two-way bindings, what goes back",
    params: bindingParams,
    body: previewBody,
    responses: {
      200: {
        description: 'The mapped values and the fields that could not be mapped',
        schema: previewSchema,
      },
      400: problem('The app can no longer be synced, or an OUTBOUND binding was sent no `record`'),
      403: consentProblem,
      404: notFound,
      409: problem('The connection has expired, or the provider refused its token'),
      502: problem('The provider failed'),
    },
    grants: ['table:read', 'table:write', 'secrets:keys:read', 'secrets:oauth:read'],
  }),
} satisfies Record<string, RouteDef>;
