import { routes } from '#functions/bindings/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { bindingTargets } from '#shared/bindings/service.ts';
import { ok } from '#shared/http/reply.ts';

export const handler = endpoint(routes.listBindingTargets, () => ok(bindingTargets()));
