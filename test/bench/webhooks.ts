/**
 * Webhook delivery throughput and latency through the local pipeline (DynamoDB Local + SQS
 * emulator + the real workers), next to raw signed POSTs to the same local receiver.
 * Runs outside vitest; prints figures, asserts nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { request } from 'undici';
import { startLocalStack } from '#infra/local/stack.ts';
import { db } from '#shared/db/client.ts';
import { generateSecret, signedHeaders } from '#shared/webhooks/signing.ts';
import { testIdentity } from '#test/helpers/session.ts';

const EVENTS = 300;
const RAW_CONCURRENCY = 10;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export async function benchWebhooks(): Promise<void> {
  const arrivals = new Map<string, number>();
  let rawCount = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const id = req.headers['webhook-id'] as string;
      if (req.url === '/raw') rawCount++;
      else if (!arrivals.has(id)) arrivals.set(id, performance.now());
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const dir = mkdtempSync(join(tmpdir(), 'bench-webhooks-'));
  const stack = await startLocalStack({
    dir,
    inMemory: true,
    port: 0,
    tableName: 'bench-webhooks',
    onWorkerError: () => {},
  });
  try {
    const jwt = await (await testIdentity()).jwt('u1', 'ws1');
    const created = await fetch(`${stack.baseUrl}/v1/integration/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'bench',
        url: `http://127.0.0.1:${port}/hook`,
        events: { 'task.created': true },
      }),
    });
    if (created.status !== 201) throw new Error(`create webhook answered ${created.status}`);

    const sqs = new SQSClient({
      endpoint: stack.sqs.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    // DynamoDB requests made by the pipeline (the handlers run in this process, on this client).
    let dynamoRequests = 0;
    db().middlewareStack.add(
      (next) => (args) => {
        dynamoRequests++;
        return next(args);
      },
      { step: 'initialize', name: 'benchCountRequests' },
    );
    const sentAt = new Map<string, number>();
    const started = performance.now();
    for (let i = 0; i < EVENTS; i += 10) {
      const entries = Array.from({ length: Math.min(10, EVENTS - i) }, (_, j) => {
        const id = `evt_bench_${i + j}`;
        sentAt.set(id, performance.now());
        const event = {
          id,
          type: 'task.created',
          workspace_id: 'ws1',
          occurred_at: new Date().toISOString(),
          data: { n: i + j },
        };
        return { Id: String(j), MessageBody: JSON.stringify(event) };
      });
      await sqs.send(new SendMessageBatchCommand({ QueueUrl: stack.sqs.urls.ingest, Entries: entries }));
    }
    const deadline = Date.now() + 90_000;
    while (arrivals.size < EVENTS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const pipelineSeconds = (performance.now() - started) / 1000;
    // The last deliveries are recorded just after their POST arrived: let those writes land.
    await new Promise((r) => setTimeout(r, 500));
    const dynamoPerDelivery = dynamoRequests / Math.max(1, arrivals.size);
    sqs.destroy();

    // Map deliveries back to events through the delivery records' payload is costly; the
    // delivery id is deterministic from event + endpoint, so compute it the same way.
    const { deliveryId } = await import('#shared/webhooks/delivery-store.ts');
    const endpointId = ((await created.json()) as { id: string }).id;
    const latencies = [...sentAt.entries()]
      .map(([evt, t]) => (arrivals.get(deliveryId(evt, endpointId)) ?? Number.NaN) - t)
      .filter((v) => !Number.isNaN(v))
      .sort((a, b) => a - b);

    const secret = generateSecret();
    const rawStart = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: RAW_CONCURRENCY }, async () => {
        while (next < EVENTS) {
          const n = next++;
          const body = JSON.stringify({
            type: 'task.created',
            timestamp: new Date().toISOString(),
            data: { n },
          });
          const headers = signedHeaders([secret], `raw_${n}`, Math.floor(Date.now() / 1000), body);
          const res = await request(`http://127.0.0.1:${port}/raw`, {
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/json' },
            body,
          });
          await res.body.dump();
        }
      }),
    );
    const rawSeconds = (performance.now() - rawStart) / 1000;
    const pipelineRate = arrivals.size / pipelineSeconds;
    const rawRate = rawCount / rawSeconds;
    console.log('\nWebhooks: local pipeline (ingest → fan-out → signed delivery) vs raw signed POSTs');
    console.table([
      { measure: 'events emitted', value: EVENTS },
      { measure: 'deliveries received', value: arrivals.size },
      { measure: 'pipeline deliveries/s', value: Number(pipelineRate.toFixed(1)) },
      { measure: `raw signed POSTs/s (${RAW_CONCURRENCY} concurrent)`, value: Number(rawRate.toFixed(1)) },
      { measure: 'ratio pipeline / raw', value: Number((pipelineRate / rawRate).toFixed(3)) },
      { measure: 'DynamoDB requests per delivery', value: Number(dynamoPerDelivery.toFixed(2)) },
      { measure: 'ingest → delivery p50 (ms)', value: Math.round(percentile(latencies, 50)) },
      { measure: 'ingest → delivery p99 (ms)', value: Math.round(percentile(latencies, 99)) },
    ]);
  } finally {
    await stack.stop();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchWebhooks();
  process.exit(0);
}
