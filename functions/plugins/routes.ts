/**
 * The Plugins routes: one row per endpoint; the feature's defaults are stated once in `route`.
 * Handlers of this feature import this module, never the whole surface (functions/features.ts).
 */
import { idParams, pageQuery, pending } from '#shared/http/common-params.ts';
import { featureRoute, type RouteDef } from '#shared/http/route.ts';
import { installPluginBody, updatePluginConfigBody } from '#shared/plugins/schemas.ts';

const route = featureRoute({ tag: 'Plugins', auth: 'user_or_token' });

export const routes = {
  listPlugins: route({
    id: 'listPlugins',
    method: 'GET',
    path: '/plugins',
    handler: 'plugins/list-plugins',
    scopes: ['read:plugins'],
    summary: 'The plugin marketplace',
    query: pageQuery,
    responses: pending,
    pending: 'Plugin marketplace',
  }),
  listInstalledPlugins: route({
    id: 'listInstalledPlugins',
    method: 'GET',
    path: '/plugins/installed',
    handler: 'plugins/list-installed-plugins',
    scopes: ['read:plugins'],
    summary: 'Plugins installed in the workspace',
    query: pageQuery,
    responses: pending,
    pending: 'Plugin marketplace',
  }),
  getPlugin: route({
    id: 'getPlugin',
    method: 'GET',
    path: '/plugins/{id}',
    handler: 'plugins/get-plugin',
    scopes: ['read:plugins'],
    summary: 'Plugin details',
    params: idParams,
    responses: pending,
    pending: 'Plugin marketplace',
  }),
  installPlugin: route({
    id: 'installPlugin',
    method: 'POST',
    path: '/plugins/{id}/install',
    handler: 'plugins/install-plugin',
    scopes: ['write:plugins'],
    summary: 'Install a plugin in the workspace',
    params: idParams,
    body: installPluginBody,
    responses: pending,
    pending: 'Plugin marketplace',
  }),
  updatePluginConfig: route({
    id: 'updatePluginConfig',
    method: 'PATCH',
    path: '/plugins/{id}/config',
    handler: 'plugins/update-plugin-config',
    scopes: ['write:plugins'],
    summary: "Update an installed plugin's configuration",
    params: idParams,
    body: updatePluginConfigBody,
    responses: pending,
    pending: 'Plugin marketplace',
  }),
  uninstallPlugin: route({
    id: 'uninstallPlugin',
    method: 'DELETE',
    path: '/plugins/{id}/uninstall',
    handler: 'plugins/uninstall-plugin',
    scopes: ['write:plugins'],
    summary: 'Uninstall a plugin',
    params: idParams,
    responses: pending,
    pending: 'Plugin marketplace',
  }),
} satisfies Record<string, RouteDef>;
