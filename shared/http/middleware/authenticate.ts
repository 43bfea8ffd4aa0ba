import { authenticate } from '#shared/auth/authenticate.ts';
import { ForbiddenError } from '#shared/errors.ts';
import type { HttpMiddleware, HttpRequest } from '../types.ts';

/** Establishes the caller (session or API token) and checks role and scopes for the route. */
export function authentication(): HttpMiddleware {
  return {
    name: 'authentication',
    before: async (request: HttpRequest) => {
      const { route } = request.state;
      const caller = await authenticate(request.event, route);
      request.state.caller = caller;
      if (caller && route.role === 'admin' && caller.role !== 'admin') {
        throw new ForbiddenError('This action needs the admin role in the workspace.', {
          extra: { required_role: 'admin' },
        });
      }
      if (caller?.kind === 'token' && route.scopes.length > 0) {
        const held = new Set(caller.scopes ?? []);
        if (!route.scopes.some((s) => held.has(s))) {
          throw new ForbiddenError(
            `This token lacks the scope this endpoint needs: ${route.scopes.join(' or ')}.`,
            {
              extra: { required_scopes: route.scopes },
            },
          );
        }
      }
    },
  };
}
