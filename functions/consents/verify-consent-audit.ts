import { routes } from '#functions/consents/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { verifyTrail, verifyWorkspace } from '#shared/audit/log.ts';
import { assertScope } from '#shared/consents/service.ts';
import { ok } from '#shared/http/reply.ts';

export const handler = endpoint(routes.verifyConsentAudit, async ({ query, caller }) => {
  assertScope(caller, query.scope);
  if (query.scope === 'self') return ok(await verifyTrail(caller.workspaceId, caller.userId));
  const { valid, trails } = await verifyWorkspace(caller.workspaceId);
  const entries = trails.reduce((n, t) => n + t.entries, 0);
  const broken = trails.find((t) => !t.valid);
  return ok({ valid, entries, head: null, ...(broken?.broken ? { broken: broken.broken } : {}), trails });
});
