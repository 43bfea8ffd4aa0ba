/**
 * Hot-path benchmark of API-token authentication + rate limit + usage accounting, against an
 * in-process local stack with its own DynamoDB Local. Prints latency percentiles and DynamoDB
 * calls per request; asserts nothing. Figures from DynamoDB Local are relative, not AWS numbers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { routes } from '#functions/routes.ts';
import { loadOrCreateDevKeys, signSessionJwt } from '#infra/local/dev-keys.ts';
import { lambdaContext } from '#infra/local/lambda-event.ts';
import { startLocalStack } from '#infra/local/stack.ts';
import { logger } from '#shared/logger.ts';
import { createToken } from '#shared/tokens/token-writes.ts';
import { httpEvent } from '#test/helpers/http-event.ts';
import { countDynamoCalls } from '#test/helpers/tokens.ts';

const N = 500;
const WARMUP = 50;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function measure(fn: () => Promise<unknown>): Promise<{ p50: number; p99: number; mean: number }> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { p50: pct(times, 50), p99: pct(times, 99), mean: times.reduce((a, b) => a + b, 0) / times.length };
}

export async function benchTokens(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-tokens-'));
  const level = logger.getLevelName();
  logger.setLogLevel('SILENT');
  const stack = await startLocalStack({
    dir,
    inMemory: true,
    port: 0,
    tableName: 'bench-tokens',
    workers: false,
    env: { RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '10000000', LOG_LEVEL: 'SILENT' },
  });
  try {
    const { value } = await createToken({
      userId: 'bench',
      workspaceId: 'ws-bench',
      role: 'admin',
      name: 'bench',
      scopes: ['read:webhooks'],
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    });
    const keys = await loadOrCreateDevKeys(join(dir, 'session-keys.json'));
    const jwt = await signSessionJwt({
      keys,
      userId: 'bench',
      workspaces: [{ id: 'ws-bench', role: 'admin' }],
      issuer: 'https://identity.pronaflow.local',
      audience: 'pronaflow-integrations',
    });
    const bad = `${value.slice(0, -1)}${value.endsWith('a') ? 'b' : 'a'}`;
    const { handler } = await import('#functions/tokens/get-rate-limit.ts');
    const direct = (token: string) => () =>
      handler(httpEvent(routes.getRateLimit, { token }), lambdaContext('getRateLimit'));
    const overHttp = (token: string) => () =>
      fetch(`${stack.baseUrl}/v1/integration/rate-limit`, {
        headers: { authorization: `Bearer ${token}` },
      }).then((r) => r.arrayBuffer());

    const rows: Record<string, string | number>[] = [];
    for (const [name, fn] of [
      ['token, middleware chain (handler invoked)', direct(value)],
      ['token, over HTTP (local server)', overHttp(value)],
      ['session JWT, middleware chain', direct(jwt)],
      ['bad checksum, middleware chain', direct(bad)],
    ] as const) {
      const counter = countDynamoCalls();
      await fn();
      const calls = counter.calls.length;
      counter.stop();
      const t = await measure(fn);
      rows.push({
        case: name,
        'p50 ms': t.p50.toFixed(2),
        'p99 ms': t.p99.toFixed(2),
        'mean ms': t.mean.toFixed(2),
        'DynamoDB calls/request': calls,
      });
    }
    console.log(
      `\nAPI tokens hot path: authentication + rate limit + usage accounting (the SQS send is included for`,
      `tokens), ${N} sequential requests after ${WARMUP} warm-up, DynamoDB Local + SQS emulator in process`,
    );
    console.table(rows);
  } finally {
    await stack.stop();
    logger.setLogLevel(level);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchTokens();
