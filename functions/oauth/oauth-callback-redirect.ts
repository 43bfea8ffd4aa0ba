import { routes } from '#functions/oauth/routes.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { callbackLanding } from '#shared/oauth/callback-page.ts';

/**
 * The provider's browser redirect. Public, so it completes nothing: it hands the code and state to
 * the front end (302 to OAUTH_COMPLETE_URL) or shows a page; `POST /oauth/callback` finishes.
 */
export const handler = endpoint(routes.oauthCallbackRedirect, ({ query }) => callbackLanding(query));
