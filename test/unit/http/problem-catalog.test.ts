/**
 * Every problem type the code can emit has its page (`GET /problems/{name}`): the codes are read
 * from the sources (every `new AppError(<status>, '<code>'`, `super(<status>, '<code>'`, and the
 * `code:` of the problems the chain builds itself), and each page is fetched through the handler,
 * as JSON and as HTML. The answers of every other test are checked by test/helpers/response-audit.ts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { routeList, routes } from '#functions/routes.ts';
import { handler as getProblemType } from '#functions/system/get-problem-type.ts';
import { handler as getProblemTypes } from '#functions/system/get-problem-types.ts';
import * as errors from '#shared/errors.ts';
import { buildOpenApi } from '#shared/http/openapi.ts';
import { PROBLEM_TYPE_BASE, problemTypeUri } from '#shared/http/problem.ts';
import { PROBLEM_CATALOG, problemNames } from '#shared/http/problem-catalog.ts';
import { wantsHtml } from '#shared/system/problem-pages.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { auditProblem, drainPageless } from '#test/helpers/response-audit.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every (code, status) the sources of the service can emit. */
function emittedCodes(): Map<string, number | undefined> {
  const out = new Map<string, number | undefined>();
  for (const file of [...sources(join(ROOT, 'shared')), ...sources(join(ROOT, 'functions'))]) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:new AppError|super)\(\s*(\d{3}),\s*'([a-z][a-z0-9-]*)'/g)) {
      out.set(m[2] as string, Number(m[1]));
    }
    // Problems built directly with problem(): their `code:` member (literals, possibly in a ternary).
    if (/\bproblem\(\{/.test(text)) {
      for (const line of text.matchAll(/^\s*code:(.*)$/gm)) {
        for (const lit of (line[1] as string).matchAll(/'([a-z][a-z0-9-]*)'/g)) {
          if (!out.has(lit[1] as string)) out.set(lit[1] as string, undefined);
        }
      }
    }
  }
  return out;
}

describe('problem catalog (shared/http/problem-catalog.ts)', () => {
  const emitted = emittedCodes();

  it('finds the codes of the sources (the scan itself works)', () => {
    for (const code of [
      'validation-error',
      'rate-limited',
      'unsupported-media-type',
      'internal-error',
      'method-not-allowed',
      'oauth-invalid-grant',
    ]) {
      expect(emitted.has(code), code).toBe(true);
    }
  });

  it('lists every code the sources can emit, with its status', () => {
    for (const [code, status] of emitted) {
      expect(Object.hasOwn(PROBLEM_CATALOG, code), `${code} has no entry`).toBe(true);
      if (status !== undefined)
        expect(PROBLEM_CATALOG[code as keyof typeof PROBLEM_CATALOG].status, code).toBe(status);
    }
  });

  it('lists the code of every AppError subclass of shared/errors.ts', () => {
    const made = [
      new errors.ValidationError('x'),
      new errors.UnauthorizedError('x'),
      new errors.ForbiddenError('x'),
      new errors.NotFoundError('x'),
      new errors.ConflictError('x'),
      new errors.PayloadTooLargeError('x'),
      new errors.RateLimitedError('x', 1),
      new errors.NotImplementedError('x'),
      new errors.UpstreamError('x'),
      new errors.ServiceUnavailableError('x'),
    ];
    const subclasses = Object.values(errors).filter(
      (v) => typeof v === 'function' && v.prototype instanceof errors.AppError,
    );
    expect(made.map((e) => e.constructor).sort()).toEqual([...subclasses].sort());
    for (const e of made) {
      expect(PROBLEM_CATALOG[e.code as keyof typeof PROBLEM_CATALOG]?.status, e.code).toBe(e.status);
    }
  });

  it('lists nothing the code cannot emit', () => {
    expect(problemNames().filter((n) => !emitted.has(n))).toEqual([]);
  });

  it('gives each entry an explanation and concrete steps', () => {
    for (const [name, doc] of Object.entries(PROBLEM_CATALOG)) {
      expect(doc.description.length, name).toBeGreaterThan(30);
      expect(doc.how_to_fix.length, name).toBeGreaterThan(0);
    }
    expect(PROBLEM_CATALOG['rate-limited'].how_to_fix.join(' ')).toMatch(/Retry-After.*X-RateLimit-/s);
    expect(PROBLEM_CATALOG['validation-error'].how_to_fix.join(' ')).toMatch(/errors\[\]/);
  });
});

describe('GET /problems/{name}', () => {
  it.each(problemNames())('serves the page of %s as JSON by default', async (name) => {
    const res = await invoke(getProblemType, routes.problemType, { params: { name } });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers.vary).toMatch(/Accept/);
    const doc = PROBLEM_CATALOG[name];
    expect(res.body).toEqual({
      name,
      type: `${PROBLEM_TYPE_BASE}${name}`,
      title: doc.title,
      status: doc.status,
      description: doc.description,
      how_to_fix: doc.how_to_fix,
    });
  });

  it.each(problemNames())('serves the page of %s as HTML to a browser', async (name) => {
    const res = await invoke(getProblemType, routes.problemType, {
      params: { name },
      headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' },
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = res.headers['content-security-policy'] ?? '';
    expect(csp).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).not.toMatch(/unsafe|script-src/);
    expect(res.body).toContain(`<h1>`);
    expect(res.body).not.toMatch(/<script|https?:\/\/(?!docs\.pronaflow\.com)/);
    const style = /<style>([^<]*)<\/style>/.exec(res.body)?.[1] ?? '';
    const { createHash } = await import('node:crypto');
    expect(csp).toContain(`'sha256-${createHash('sha256').update(style).digest('base64')}'`);
  });

  it('answers 404 problem+json for an unknown name, as HTML-preferring clients too', async () => {
    for (const accept of [undefined, 'text/html']) {
      const res = await invoke(getProblemType, routes.problemType, {
        params: { name: 'no-such-problem' },
        ...(accept ? { headers: { accept } } : {}),
      });
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toBe('application/problem+json');
      expect(res.body.type).toBe(problemTypeUri('not-found'));
    }
  });

  it('negotiates: JSON for curl, fetch and explicit JSON; HTML when preferred', () => {
    expect(wantsHtml(undefined)).toBe(false);
    expect(wantsHtml('*/*')).toBe(false);
    expect(wantsHtml('application/json')).toBe(false);
    expect(wantsHtml('application/json, text/html;q=0.5')).toBe(false);
    expect(wantsHtml('text/html')).toBe(true);
    expect(wantsHtml('text/html;q=0.9, application/json;q=0.8')).toBe(true);
    expect(wantsHtml('text/html,*/*;q=0.8')).toBe(true);
  });
});

describe('GET /problems', () => {
  it('lists every problem type', async () => {
    const res = await invoke(getProblemTypes, routes.problemTypes);
    expect(res.status).toBe(200);
    expect(res.body.items.map((i: { name: string }) => i.name)).toEqual(problemNames());
  });
});

describe('the OpenAPI document links problem answers to their pages', () => {
  const doc = buildOpenApi(routeList, undefined, 'test') as {
    externalDocs: { url: string };
    paths: Record<
      string,
      Record<
        string,
        {
          responses: Record<
            string,
            {
              description: string;
              content?: Record<string, unknown>;
              'x-problem-types'?: { type: string; page: string }[];
            }
          >;
        }
      >
    >;
  };

  it('links the catalogue from the document', () => {
    expect(doc.externalDocs.url).toBe('/v1/integration/problems');
  });

  it('gives every problem+json answer its types and page links', () => {
    let linked = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const [status, res] of Object.entries(op.responses)) {
          if (!res.content?.['application/problem+json']) continue;
          const types = res['x-problem-types'];
          expect(types?.length, `${method} ${path} ${status}`).toBeGreaterThan(0);
          for (const t of types ?? []) {
            const name = t.page.split('/').pop() as keyof typeof PROBLEM_CATALOG;
            expect(PROBLEM_CATALOG[name].status).toBe(Number(status));
            expect(t.type).toBe(problemTypeUri(name));
            expect(res.description).toContain(`](${t.page})`);
          }
          linked++;
        }
      }
    }
    expect(linked).toBeGreaterThan(routeList.length);
  });

  it('names the OAuth-only types on OAuth operations only', () => {
    const callback = doc.paths['/v1/integration/oauth/callback']?.get?.responses['400'];
    expect(callback?.['x-problem-types']?.map((t) => t.page)).toContain(
      '/v1/integration/problems/oauth-invalid-state',
    );
    const tokens = doc.paths['/v1/integration/tokens']?.post?.responses['400'];
    expect(tokens?.['x-problem-types']?.map((t) => t.page)).toEqual([
      '/v1/integration/problems/validation-error',
    ]);
  });
});

describe('response audit of problem types (test/helpers/response-audit.ts)', () => {
  it('flags a problem answer whose type has no page, and passes one that has', () => {
    const headers = { 'Content-Type': 'application/problem+json' };
    auditProblem(routes.health, { headers, body: JSON.stringify({ type: problemTypeUri('not-found') }) });
    expect(drainPageless()).toEqual([]);
    auditProblem(routes.health, { headers, body: JSON.stringify({ type: problemTypeUri('teapot') }) });
    expect(drainPageless()).toEqual([{ route: 'health', type: problemTypeUri('teapot') }]);
  });
});
