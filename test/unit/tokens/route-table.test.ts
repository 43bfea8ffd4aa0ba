import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { routeList, routes } from '#functions/routes.ts';
import { isWellFormedToken } from '#shared/tokens/format.ts';

/** The token-management endpoints of the issue: a user session only, never an API token. */
const MANAGEMENT = [
  'POST /tokens',
  'GET /tokens',
  'GET /tokens/{id}',
  'PATCH /tokens/{id}',
  'DELETE /tokens/{id}',
  'POST /tokens/{id}/rotate',
  'GET /tokens/scopes',
  'GET /tokens/{id}/scopes',
  'GET /tokens/usage-logs',
];

describe('API token routes', () => {
  it('registers every token-management endpoint', () => {
    const registered = new Set(routeList.map((r) => `${r.method} ${r.path}`));
    expect(MANAGEMENT.filter((e) => !registered.has(e))).toEqual([]);
  });

  it("lets only a user session manage tokens: every /tokens route is auth 'user'", () => {
    const tokenRoutes = routeList.filter((r) => r.path === '/tokens' || r.path.startsWith('/tokens/'));
    expect(tokenRoutes.map((r) => `${r.method} ${r.path}`).sort()).toEqual([...MANAGEMENT].sort());
    for (const r of tokenRoutes) expect(r.auth, r.id).toBe('user');
  });

  it('lets any credential read its own rate limit', () => {
    expect(routes.getRateLimit).toMatchObject({ auth: 'user_or_token', scopes: [], rateLimit: 'api' });
  });

  it('budgets token management apart from the API, and never limits revocation or deactivation', () => {
    const tokenRoutes = routeList.filter((r) => r.path === '/tokens' || r.path.startsWith('/tokens/'));
    for (const r of tokenRoutes) expect(['management', 'exempt'], r.id).toContain(r.rateLimit);
    expect(routes.revokeToken.rateLimit).toBe('exempt');
    expect(routes.updateToken.rateLimitExemptIf?.({ body: '{"is_active":false}' } as never)).toBe(true);
    expect(routes.updateToken.rateLimitExemptIf?.({ body: '{"is_active":true}' } as never)).toBe(false);
  });

  it('keeps the management budget and exemptions to session-only routes (no API token can spend them)', () => {
    for (const r of routeList) {
      if ((r.rateLimit ?? 'api') !== 'api' || r.rateLimitExemptIf) expect(r.auth, r.id).toBe('user');
    }
  });
});

describe('README', () => {
  it('shows no token that passes the checksum (secret scanners would flag it)', () => {
    const readme = readFileSync('README.md', 'utf8');
    const examples = readme.match(/pfi_[0-9A-Za-z]{38}(?![0-9A-Za-z])/g) ?? [];
    expect(examples.length).toBeGreaterThan(0);
    expect(examples.filter(isWellFormedToken)).toEqual([]);
  });
});
