import { routes } from '#functions/consents/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { assertScope } from '#shared/consents/service.ts';
import { complianceStatus } from '#shared/consents/status.ts';
import { ok } from '#shared/http/reply.ts';
import { requirementSources } from './sources.ts';

export const handler = endpoint(routes.consentStatus, async ({ query, caller }) => {
  assertScope(caller, query.scope);
  const user = query.scope === 'workspace' ? null : caller.userId;
  return ok(await complianceStatus(caller.workspaceId, user, requirementSources));
});
