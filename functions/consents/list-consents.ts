import { routes } from '#functions/consents/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { listConsents } from '#shared/consents/service.ts';
import { ok } from '#shared/http/reply.ts';

export const handler = endpoint(routes.listConsents, async ({ query, caller }) =>
  ok(await listConsents(caller, query)),
);
