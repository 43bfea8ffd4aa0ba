import { beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { createClient, type Problem, ProblemError } from '#shared/client/index.ts';
import { useLocalStack } from '#test/helpers/local-stack.ts';

/** The typed client (shared/client) against the running local stack: the API tokens walk-through. */
const e2e = useLocalStack('client-tokens');
let session: string;
beforeAll(async () => {
  session = await e2e.session('u1', [
    { id: 'ws1', role: 'admin' },
    { id: 'ws2', role: 'member' },
  ]);
});

describe('typed client: API tokens', () => {
  it('creates a token, lists it, calls with it, revokes it, and then meets a typed 401 problem', async () => {
    const api = createClient({
      baseUrl: e2e.stack.baseUrl,
      token: session,
      workspaceId: 'ws1',
      throwOnError: true,
    });

    const { data: scopes } = await api.GET('/v1/integration/tokens/scopes');
    expect(scopes.data.length).toBeGreaterThan(0);

    const { data: created, response } = await api.POST('/v1/integration/tokens', {
      body: { name: 'client e2e', scopes: ['read:webhooks'] },
    });
    expect(response.status).toBe(201);
    expect(created.token).toMatch(/^pfi_/);
    expect(created).toMatchObject({ name: 'client e2e', workspace_id: 'ws1', status: 'active' });
    expectTypeOf(created.status).toEqualTypeOf<'active' | 'inactive' | 'expired' | 'revoked'>();

    const { data: page } = await api.GET('/v1/integration/tokens', {
      params: { query: { status: 'active' } },
    });
    expect(page.data.map((t) => t.id)).toContain(created.id);
    expect(page.data.find((t) => t.id === created.id)).not.toHaveProperty('token');

    const { data: one } = await api.GET('/v1/integration/tokens/{id}', {
      params: { path: { id: created.id } },
    });
    expect(one.scopes).toEqual(['read:webhooks']);

    // The token itself authenticates a client (non-throwing mode: `{ data } | { error }`).
    const asToken = createClient({ baseUrl: e2e.stack.baseUrl, token: created.token });
    const before = await asToken.GET('/v1/integration/rate-limit');
    expect(before.error).toBeUndefined();
    expect(before.response.status).toBe(200);

    const revoked = await api.DELETE('/v1/integration/tokens/{id}', { params: { path: { id: created.id } } });
    expect(revoked.response.status).toBe(204);

    const after = await asToken.GET('/v1/integration/rate-limit');
    expect(after.data).toBeUndefined();
    expect(after.error).toMatchObject({ status: 401, type: expect.stringContaining('/problems/') });
    if (after.error) expectTypeOf(after.error).toExtend<Problem>();

    const { data: listed } = await api.GET('/v1/integration/tokens', {
      params: { query: { status: 'revoked' } },
    });
    expect(listed.data.map((t) => t.id)).toContain(created.id);
  });

  it('throwing mode: a failed call throws a ProblemError with status, type, detail and errors[]', async () => {
    const api = createClient({
      baseUrl: e2e.stack.baseUrl,
      token: session,
      workspaceId: 'ws1',
      throwOnError: true,
    });
    const err = await api
      .POST('/v1/integration/tokens', { body: { name: '', scopes: ['read:webhooks'] } })
      .then(() => undefined)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProblemError);
    const problem = err as ProblemError;
    expect(problem.status).toBe(400);
    expect(problem.type).toMatch(/^https:\/\/docs\.pronaflow\.com\/integration\/problems\//);
    expect(problem.detail).toBeTruthy();
    expect(problem.errors.map((e) => e.path)).toContain('body.name');

    const missing = await api
      .GET('/v1/integration/tokens/{id}', { params: { path: { id: `tok_${'0'.repeat(26)}` } } })
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ProblemError);
    expect((missing as ProblemError).status).toBe(404);
  });

  it('non-throwing mode: the error is the operation’s problem union, and a session in two workspaces must name one', async () => {
    const api = createClient({ baseUrl: e2e.stack.baseUrl, token: session });
    const res = await api.GET('/v1/integration/tokens');
    expect(res.data).toBeUndefined();
    expect(res.error?.status).toBe(400);
    expect(res.error?.errors?.map((e) => e.path)).toContain('headers.x-workspace-id');

    const unauthenticated = createClient({ baseUrl: e2e.stack.baseUrl });
    const anon = await unauthenticated.GET('/v1/integration/tokens');
    expect(anon.error?.status).toBe(401);
    const health = await unauthenticated.GET('/v1/integration/health');
    expect(health.response.status).toBe(200);
  });
});
