import { configuredPolicy, hostProblem } from '#shared/net/url-guard.ts';

/**
 * Why a provider URL may not be called, judged without DNS, or undefined when it may: https only,
 * no credentials or fragment, and a host the outbound guard accepts (shared/net/url-guard.ts: no
 * loopback, private, link-local or other special address literal such as `[::7f00:1]`, no
 * single-label or local-only name such as `localhost.` or `metadata.google.internal`). Plain http
 * and loopback hosts are allowed only with ALLOW_LOOPBACK_TARGETS=true (local development and
 * tests, where fake providers listen on 127.0.0.1). This is the catalog's check; every call
 * moreover resolves the host and refuses it when any address is internal (see provider.ts).
 */
export function checkProviderUrl(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'not a URL';
  }
  const policy = configuredPolicy();
  if (url.username || url.password) return 'must not carry credentials';
  if (url.hash) return 'must not have a fragment';
  if (url.protocol !== 'https:' && !(policy.allowLoopback && url.protocol === 'http:')) {
    return 'must use https (http only with ALLOW_LOOPBACK_TARGETS=true)';
  }
  const problem = hostProblem(url, policy);
  if (problem) return `must not point at a loopback, private or internal host: ${problem}`;
  return undefined;
}
