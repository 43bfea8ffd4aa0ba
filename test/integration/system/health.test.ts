import { describe, expect, it } from 'vitest';
import { routeList, routes } from '#functions/routes.ts';
import { handler } from '#functions/system/get-health.ts';
import { handler as getStatus } from '#functions/system/get-status.ts';
import { setEnv, useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';

const table = useTestTable();

describe('GET /health', () => {
  it('answers 200 when the table is reachable', async () => {
    const res = await invoke(handler, routes.health);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', components: [{ name: 'table', status: 'ok' }] });
  });

  it('answers 503 naming the failing component when the table is missing', async () => {
    setEnv({ TABLE_NAME: 'no-such-table' });
    try {
      const res = await invoke(handler, routes.health);
      expect(res.status).toBe(503);
      expect(res.body.components).toEqual([
        expect.objectContaining({ name: 'table', status: 'failing', detail: 'unreachable' }),
      ]);
      expect(JSON.stringify(res.body)).not.toMatch(/ResourceNotFound|no-such-table/);
    } finally {
      setEnv({ TABLE_NAME: table.name });
    }
  });
});

describe('GET /status', () => {
  it('reports each capability from the route table', async () => {
    const res = await invoke(getStatus, routes.status);
    expect(res.status).toBe(200);
    const tags = new Set(routeList.map((r) => r.tag));
    expect(res.body.capabilities.map((c: { name: string }) => c.name).sort()).toEqual([...tags].sort());
    const system = res.body.capabilities.find((c: { name: string }) => c.name === 'System');
    expect(system).toMatchObject({ status: 'available', pending_endpoints: 0 });
  });
});
