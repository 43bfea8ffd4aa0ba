import { routes } from '#functions/system/routes.ts';
import { NotFoundError } from '#shared/errors.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { isProblemName, problemTypeJson } from '#shared/http/problem-catalog.ts';
import { PROBLEM_PAGE_CSP, problemPage, wantsHtml } from '#shared/system/problem-pages.ts';

// The page of a problem's `type` URI: the public https://docs.pronaflow.com/integration/problems/<name>
// proxies here. Browsers get HTML, everything else JSON; `Vary: Accept` keeps caches apart.
export const handler = endpoint(routes.problemType, ({ params, event }) => {
  if (!isProblemName(params.name)) throw new NotFoundError(`There is no problem type ${params.name}`);
  const headers = { 'Cache-Control': 'public, max-age=300', Vary: 'Accept' };
  if (wantsHtml(event.headers?.accept)) {
    return {
      status: 200,
      headers: { ...headers, 'Content-Security-Policy': PROBLEM_PAGE_CSP },
      raw: { contentType: 'text/html; charset=utf-8', text: problemPage(params.name) },
    };
  }
  return { status: 200, headers, body: problemTypeJson(params.name) };
});
