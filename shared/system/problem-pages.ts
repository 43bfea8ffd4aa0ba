/**
 * The pages of the problem types (`GET /problems/{name}`, catalogue: shared/http/problem-catalog.ts):
 * JSON by default, or a small self-contained HTML page for a browser (`Accept: text/html` preferred
 * over JSON). The page loads nothing: its one inline stylesheet is allowed by hash
 * ({@link PROBLEM_PAGE_CSP}), and it has no script.
 */
import { createHash } from 'node:crypto';
import { PROBLEM_CATALOG, type ProblemName, problemTypeJson } from '#shared/http/problem-catalog.ts';
import { API_PREFIX } from '#shared/http/route.ts';

const STYLE =
  'body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}' +
  'code{background:#f2f4f7;padding:0 .25em;border-radius:3px}h1{font-size:1.6rem}.s{color:#57606a}';

/** Nothing but the inline stylesheet (by hash) and links; no script, no frame, no form. */
export const PROBLEM_PAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** `` `code` `` in the catalogue's text becomes `<code>`; everything else is escaped. */
const inline = (text: string) =>
  escapeHtml(text).replace(/`([^`]+)`/g, (_m, code: string) => `<code>${code}</code>`);

/** True when the client prefers HTML to JSON (a browser's `Accept`; `*\/*` and none mean JSON). */
export function wantsHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  let html = 0;
  let json = 0;
  for (const part of accept.split(',')) {
    const [range = '', ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) || 0 : 1;
    const type = range.trim();
    if (type === 'text/html' || type === 'application/xhtml+xml') html = Math.max(html, q);
    if (type === 'application/json' || type === 'application/problem+json') json = Math.max(json, q);
    if (type === '*/*' || type === 'application/*') json = Math.max(json, q - 0.001);
  }
  return html > 0 && html > json;
}

export function problemPage(name: ProblemName): string {
  const doc = problemTypeJson(name);
  const steps = doc.how_to_fix.map((s) => `<li>${inline(s)}</li>`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(doc.title)} (${doc.status}) · PronaFlow Integrations</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<p class="s">PronaFlow Integrations API · problem type</p>
<h1>${escapeHtml(doc.title)}</h1>
<p class="s">HTTP ${doc.status} · <code>${escapeHtml(doc.type)}</code></p>
<p>${inline(doc.description)}</p>
<h2>How to fix it</h2>
<ol>
${steps}
</ol>
<p class="s">Every error is RFC 9457 <code>application/problem+json</code>: <code>detail</code> says what happened to your request and <code>request_id</code> identifies it. <a href="${API_PREFIX}/problems">All problem types</a> · <a href="${API_PREFIX}/docs">API reference</a></p>
</body>
</html>
`;
}

/** The catalogue as listed by `GET /problems`. */
export const problemList = () => ({
  items: (Object.keys(PROBLEM_CATALOG) as ProblemName[]).map(problemTypeJson),
});
