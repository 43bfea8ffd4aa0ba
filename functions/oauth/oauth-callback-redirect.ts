import { routes } from '#functions/routes.ts';
import { AppError } from '#shared/errors.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { callbackPage } from '#shared/oauth/callback-page.ts';
import { completeAuthorization } from '#shared/oauth/service.ts';

/** The browser lands here from the provider; the state, bound to its user, authenticates the flow. */
export const handler = endpoint(routes.oauthCallbackRedirect, async ({ query }) => {
  if (!query.state) {
    return callbackPage(400, 'Connection failed', 'The provider sent no state; start the connection again.');
  }
  try {
    const connection = await completeAuthorization(
      { state: query.state, code: query.code || undefined, error: query.error, error_description: undefined },
      undefined,
    );
    return callbackPage(
      200,
      'Connected',
      `Your ${connection.oauth_app_id} account is connected (${connection.id}). You can close this window.`,
    );
  } catch (err) {
    if (!(err instanceof AppError) || ![400, 404, 502, 503].includes(err.status)) throw err;
    return callbackPage(err.status === 404 ? 400 : err.status, 'Connection failed', err.message);
  }
});
