import { authenticate } from '#shared/auth/authenticate.ts';
import { ForbiddenError } from '#shared/errors.ts';
import { assertTokenWorkspace } from '#shared/tokens/auth.ts';
import { satisfiesScopes } from '#shared/tokens/scopes.ts';
import type { HttpMiddleware, HttpRequest } from '../types.ts';

/** Establishes the caller (session or API token); public routes have none. */
export function authentication(): HttpMiddleware {
  return {
    name: 'authentication',
    before: async (request: HttpRequest) => {
      request.state.caller = await authenticate(request.event, request.state.route);
    },
  };
}

/**
 * Checks the caller against the workspace the request names (a token is bound to its own), the
 * route's role and its scopes. Runs after the rate limit, so refused requests count too, carry
 * the rate-limit headers and, for tokens, reach the usage logs. A token needs one of the route's
 * scopes (`write:x` includes `read:x`, `admin:x` both); a session user holds its role's scopes.
 */
export function authorization(): HttpMiddleware {
  return {
    name: 'authorization',
    before: (request: HttpRequest) => {
      const { route, caller } = request.state;
      if (!caller) return;
      assertTokenWorkspace(caller, request.event.headers?.['x-workspace-id']);
      if (route.role === 'admin' && caller.role !== 'admin') {
        throw new ForbiddenError('This action needs the admin role in the workspace.', {
          extra: { required_role: 'admin' },
        });
      }
      if (!satisfiesScopes(caller, route.scopes)) {
        const who = caller.kind === 'token' ? 'This token lacks' : 'Your role lacks';
        throw new ForbiddenError(`${who} the scope this endpoint needs: ${route.scopes.join(' or ')}.`, {
          extra: { required_scopes: route.scopes },
        });
      }
    },
  };
}
