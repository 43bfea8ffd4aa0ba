import { routes } from '#functions/routes.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { ok } from '#shared/http/reply.ts';
import { listUsageLogs } from '#shared/tokens/usage.ts';

export const handler = endpoint(routes.listUsageLogs, async ({ query, caller }) =>
  ok(await listUsageLogs(caller.workspaceId, caller.userId, query)),
);
