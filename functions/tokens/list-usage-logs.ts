import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/tokens/routes.ts';
import { ok } from '#shared/http/reply.ts';
import { listUsageLogs } from '#shared/tokens/usage.ts';

export const handler = endpoint(routes.listUsageLogs, async ({ query, caller }) =>
  ok(await listUsageLogs(caller.workspaceId, caller.userId, query)),
);
