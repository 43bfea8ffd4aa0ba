import type { Reply } from '#shared/http/reply.ts';

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

/**
 * The small page the browser sees at the end of an authorization. Plain HTML without script or
 * style (the API's CSP forbids both), every dynamic part escaped.
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
  return { status, raw: { contentType: 'text/html; charset=utf-8', text } };
}
