import * as v from 'valibot';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/routes.ts';
import { handler as createToken } from '#functions/tokens/create-token.ts';
import { handler as getRateLimit } from '#functions/tokens/get-rate-limit.ts';
import { route } from '#shared/http/route.ts';
import { logger } from '#shared/logger.ts';
import { hashToken } from '#shared/tokens/token-store.ts';
import { useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { type TestIdentity, testIdentity } from '#test/helpers/session.ts';

useTestTable();
let id: TestIdentity;
beforeAll(async () => {
  id = await testIdentity();
});

let output: string[];
let level: string;
beforeEach(() => {
  output = [];
  level = logger.getLevelName();
  logger.setLogLevel('INFO');
  const grab = (chunk: unknown) => {
    output.push(String(chunk));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(grab);
  vi.spyOn(process.stderr, 'write').mockImplementation(grab);
});
afterEach(() => {
  vi.restoreAllMocks();
  logger.setLogLevel(level as 'INFO');
});

const entries = () =>
  output
    .join('')
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('logs of token traffic (LOG_LEVEL INFO)', () => {
  it('never contain a token value or its SHA-256: create, authenticated call, and a 500', async () => {
    const session = await id.jwt('logged', [{ id: 'ws1', role: 'admin' }]);
    const made = await invoke(createToken, routes.createToken, {
      token: session,
      body: { name: 'logged', scopes: ['read:tasks'] },
    });
    expect(made.status).toBe(201);
    const value: string = made.body.token;
    const hash = hashToken(value);

    expect((await invoke(getRateLimit, routes.getRateLimit, { token: value })).status).toBe(200);

    // A handler failing with an error that quotes the credential, as a careless dependency might.
    const failing = route({
      id: 'failingTest',
      method: 'GET',
      path: '/test/failing',
      handler: 'test/failing',
      auth: 'user_or_token',
      scopes: [],
      summary: 'fails',
      tag: 'Test',
      responses: { 200: { description: 'never', schema: v.object({}) } },
    });
    const boom = endpoint(failing, () => {
      throw new Error(`lookup of Bearer ${value} failed`, {
        cause: Object.assign(new Error(`ConditionalCheckFailed on TOKENHASH#${hash}`), { token_hash: hash }),
      });
    });
    const res = await invoke(boom, failing, { token: value });
    expect(res.status).toBe(500);

    const all = output.join('');
    const logs = entries();
    // The logs are there (so the assertions below are about real output)…
    expect(logs.filter((e) => e.message === 'request done').map((e) => e.status)).toEqual([201, 200, 500]);
    expect(logs.find((e) => e.message === 'request failed')).toBeDefined();
    const done = logs.filter((e) => e.message === 'request done' && e.token_id === made.body.id);
    expect(done.map((e) => e.status)).toEqual([200, 500]);
    // …and hold neither the value nor its hash.
    expect(all).not.toContain(value);
    expect(all).not.toContain(value.slice(4));
    expect(all).not.toContain(hash);
  });
});
