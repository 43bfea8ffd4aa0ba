import { routes } from '#functions/consents/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { listTrail, listWorkspaceTrail } from '#shared/audit/log.ts';
import { assertScope } from '#shared/consents/service.ts';
import { ok } from '#shared/http/reply.ts';

export const handler = endpoint(routes.consentAudit, async ({ query, caller }) => {
  assertScope(caller, query.scope);
  const page = { limit: query.limit, cursor: query.cursor };
  return ok(
    query.scope === 'workspace'
      ? await listWorkspaceTrail(caller.workspaceId, page)
      : await listTrail(caller.workspaceId, caller.userId, page),
  );
});
