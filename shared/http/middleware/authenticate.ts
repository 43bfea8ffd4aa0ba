import { authenticate } from '#shared/auth/authenticate.ts';
import { ForbiddenError } from '#shared/errors.ts';
import type { AccessControl } from '../access.ts';
import type { HttpMiddleware, HttpRequest } from '../types.ts';

/** Establishes the caller (session or API token) with the access control's verifiers. */
export function authentication(access: AccessControl): HttpMiddleware {
  return {
    name: 'authentication',
    before: async (request: HttpRequest) => {
      request.state.caller = await authenticate(request.event, request.state.route, access.credentials);
    },
  };
}

/**
 * Checks the caller against the workspace the request names (a token is bound to its own), the
 * route's role and its scopes. Runs after the rate limit, so refused requests count too, carry
 * the rate-limit headers and, for tokens, reach the usage logs. What a scope includes is the
 * access control's to say (for API tokens, `write:x` includes `read:x`, `admin:x` both).
 */
export function authorization(access: AccessControl): HttpMiddleware {
  return {
    name: 'authorization',
    before: (request: HttpRequest) => {
      const { route, caller } = request.state;
      if (!caller) return;
      access.assertWorkspace(caller, request.event.headers?.['x-workspace-id']);
      if (route.role === 'admin' && caller.role !== 'admin') {
        throw new ForbiddenError('This action needs the admin role in the workspace.', {
          extra: { required_role: 'admin' },
        });
      }
      if (route.role === 'operator' && caller.operator !== true) {
        throw new ForbiddenError('This action is for PronaFlow operators.', {
          extra: { required_role: 'operator' },
        });
      }
      if (!access.satisfiesScopes(caller, route.scopes)) {
        const who = caller.kind === 'token' ? 'This token lacks' : 'Your role lacks';
        throw new ForbiddenError(`${who} the scope this endpoint needs: ${route.scopes.join(' or ')}.`, {
          extra: { required_scopes: route.scopes },
        });
      }
    },
  };
}
