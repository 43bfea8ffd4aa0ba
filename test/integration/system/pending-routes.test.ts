import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { routeList } from '#functions/features.ts';
import { routes } from '#functions/routes.ts';
import { useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { type TestIdentity, testIdentity } from '#test/helpers/session.ts';

useTestTable();
let id: TestIdentity;
let jwt: string;
beforeAll(async () => {
  id = await testIdentity();
  jwt = await id.jwt('u1', 'ws1');
});

const load = async (handler: string) =>
  (
    (await import(/* @vite-ignore */ pathToFileURL(resolve('functions', `${handler}.ts`)).href)) as {
      handler: unknown;
    }
  ).handler;

const pendingRoutes = routeList.filter((r) => r.pending);

describe('registered endpoints that are not built yet', () => {
  it('exist (bindings)', () => {
    expect([...new Set(pendingRoutes.map((r) => r.tag))]).toEqual(expect.arrayContaining(['Sync bindings']));
  });

  it.each(pendingRoutes.map((r) => [r.id, r] as const))(
    '%s answers 501 naming its capability',
    async (_id, r) => {
      const body =
        r.id === 'createBinding'
          ? {
              name: 'b',
              connection_id: 'conn_1',
              external_resource: { type: 'github.repository', id: 'acme/api' },
              field_mappings: [{ external_field: 'title', pronaflow_field: 'task.name' }],
            }
          : r.body
            ? {}
            : undefined;
      const res = await invoke(await load(r.handler), r, {
        token: jwt,
        params: r.params
          ? Object.fromEntries([...r.path.matchAll(/\{(\w+)\}/g)].map((m) => [m[1], 'x1']))
          : undefined,
        body,
      });
      expect(res.status).toBe(501);
      expect(res.body).toMatchObject({ status: 501, capability: r.pending });
    },
  );

  it('still validates input first: a malformed body is a 400, not a 501', async () => {
    const res = await invoke(await load(routes.createBinding.handler), routes.createBinding, {
      token: jwt,
      body: { name: 7 },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(
      expect.arrayContaining(['body.name']),
    );
  });
});
