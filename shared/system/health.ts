import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { config } from '#shared/config.ts';
import { db, tableName } from '#shared/db/client.ts';
import type { Health } from './schemas.ts';

type Probe = { name: string; check: () => Promise<void> };

const TIMEOUT_MS = 2000;

/** Components GET /health checks. Each must answer within two seconds. */
export const probes: Probe[] = [
  {
    name: 'table',
    check: async () => {
      const out = await db().send(new DescribeTableCommand({ TableName: tableName() }), {
        abortSignal: AbortSignal.timeout(TIMEOUT_MS),
      });
      if (out.Table?.TableStatus !== 'ACTIVE') throw new Error(`table is ${out.Table?.TableStatus}`);
    },
  },
];

/** Runs every probe in parallel; a failing one names itself without leaking internals. */
export async function checkHealth(list: Probe[] = probes): Promise<Health> {
  const components = await Promise.all(
    list.map(async (p) => {
      const started = performance.now();
      try {
        await p.check();
        return { name: p.name, status: 'ok' as const, latency_ms: Math.round(performance.now() - started) };
      } catch (err) {
        const detail = err instanceof Error && err.name === 'TimeoutError' ? 'timed out' : 'unreachable';
        return {
          name: p.name,
          status: 'failing' as const,
          latency_ms: Math.round(performance.now() - started),
          detail,
        };
      }
    }),
  );
  return {
    status: components.every((c) => c.status === 'ok') ? 'ok' : 'failing',
    version: config().SERVICE_VERSION,
    time: new Date().toISOString(),
    components,
  };
}
