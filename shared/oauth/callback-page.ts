import { config } from '#shared/config.ts';
import type { Reply } from '#shared/http/reply.ts';

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

/**
 * Headers of everything the browser callback answers, set here as well as by the API's response
 * middleware: the URL carries an authorization code, so nothing may be cached, sent on as a
 * Referer, framed, or run.
 */
const PAGE_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
};

/**
 * A small page for the browser. Plain HTML without script or style (the CSP forbids both), every
 * dynamic part escaped, never a token.
 */
export function callbackPage(status: number, title: string, message: string): Reply {
  const text = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(title)}</title></head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(message)}</p>
</body>
</html>
`;
  return { status, headers: PAGE_HEADERS, raw: { contentType: 'text/html; charset=utf-8', text } };
}

/** What the provider appends to the redirect URI (RFC 6749 §4.1.2 and §4.1.2.1). */
export interface CallbackQuery {
  state?: string;
  code?: string;
  error?: string;
}

/**
 * The answer to the provider's browser redirect (`GET /oauth/callback`). It completes nothing:
 * this public request carries no PronaFlow session, so exchanging the code here would attach
 * whichever provider account the browser consented with to whoever started the authorization,
 * possibly an attacker who sent their authorization URL to a victim (RFC 9700 §4.7, RFC 6749
 * §10.12). The code and state go to the PronaFlow front end instead (a 302 to OAUTH_COMPLETE_URL
 * when configured, else a page asking the user to return there), which completes the flow with
 * `POST /oauth/callback` under the user's session: that checks the state belongs to the user.
 * The state is not consumed here either, not even on a provider `error`, so a third party who
 * learns a state cannot cancel an authorization.
 */
export function callbackLanding(
  query: CallbackQuery,
  completeUrl: string | undefined = config().OAUTH_COMPLETE_URL,
): Reply {
  if (completeUrl) {
    const target = new URL(completeUrl);
    for (const name of ['code', 'state', 'error'] as const) {
      const value = query[name];
      if (value) target.searchParams.set(name, value);
    }
    return { status: 302, headers: { ...PAGE_HEADERS, Location: target.toString() } };
  }
  if (!query.state) {
    return callbackPage(400, 'Connection failed', 'The provider sent no state; start the connection again.');
  }
  if (query.error) {
    const code = query.error.replace(/[^\w.-]/g, '').slice(0, 64) || 'error';
    return callbackPage(
      400,
      'Connection not granted',
      `The provider did not grant the authorization (${code}). Return to PronaFlow to try again.`,
    );
  }
  if (!query.code) {
    return callbackPage(400, 'Connection failed', 'The provider sent no code; start the connection again.');
  }
  return callbackPage(
    200,
    'Return to PronaFlow',
    'The provider has answered. Return to PronaFlow to finish connecting the account: it completes the connection with your signed-in session.',
  );
}
