/**
 * Webhook delivery pipeline against its cost floor, in one run, on one in-process local stack
 * (DynamoDB Local + SQS emulator + the real workers, their pollers as `npm start` runs them: a
 * worker's declared maxConcurrency, else 4 per queue):
 *
 * - floor: what a recorded delivery costs at the least, a Standard-Webhooks-signed POST to the
 *   same receiver plus one conditional PutItem of a delivery-sized item on the same DynamoDB Local,
 *   50 at a time; measured before and after the pipeline, the higher figure is the floor;
 * - pipeline: a burst of events pushed on the ingest queue as an event source would (after a
 *   warm-up of {@link WARMUP} events), to one healthy endpoint: deliveries/s, DynamoDB requests per
 *   delivery (every request of the run counted, fan-out and worker, until the last record lands),
 *   the CPU per delivery of DynamoDB Local and of this process, and POSTs of a webhook-id received
 *   more than once (BENCH_CPU_PROFILE=<file> writes a CPU profile of the burst);
 * - paced: 20 events/s to the same endpoint, event → delivery latency;
 * - fairness: 20 events/s to a workspace with a hanging endpoint (never answers: each attempt
 *   runs to WEBHOOK_TIMEOUT_SECONDS) and a healthy one; the healthy one's latency.
 *
 * Runs outside vitest; prints figures (and writes them as JSON with `--json FILE`), asserts nothing.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { request } from 'undici';
import { startLocalStack } from '#infra/local/stack.ts';
import { db, tableName } from '#shared/db/client.ts';
import { compressPayload } from '#shared/webhooks/delivery-payload.ts';
import { deliveryId } from '#shared/webhooks/delivery-store.ts';
import { generateSecret, signedHeaders } from '#shared/webhooks/signing.ts';
import { testIdentity } from '#test/helpers/session.ts';
import { countDynamoCalls } from '#test/helpers/tokens.ts';

/**
 * Events delivered before anything is measured: enough for the JIT of DynamoDB Local's JVM and of
 * this process to settle on the paths the pipeline takes (with 100, the burst ran on a JVM still
 * compiling them: its CPU per request halves over the first few thousand requests).
 */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2000);
const BURST = Number(process.env.BENCH_BURST ?? 2000);
const FLOOR_OPS = Number(process.env.BENCH_FLOOR_OPS ?? 2000);
const FLOOR_CONCURRENCY = 50;
const PACED_PER_S = 20;
const PACED_SECONDS = Number(process.env.BENCH_PACED_SECONDS ?? 15);
const FAIR_SECONDS = Number(process.env.BENCH_FAIR_SECONDS ?? 20);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/**
 * CPU milliseconds DynamoDB Local's JVM has used so far (Linux /proc; undefined elsewhere): the
 * JVM is the pipeline's bottleneck, and its CPU per delivery does not depend on what else the
 * machine runs, unlike deliveries/s.
 */
function dynamoCpuMs(endpoint: string): number | undefined {
  const port = new URL(endpoint).port;
  try {
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      let cmd: string;
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (!cmd.includes('DynamoDBLocal') || !cmd.split('\0').includes(port)) continue;
      const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
      return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, 100 ticks/s
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** The local receiver: `/ok/*` answers at once, `/hang/*` never; it notes when each webhook-id arrives. */
async function startReceiver() {
  const firstArrival = new Map<string, number>();
  const posts = new Map<string, number>();
  const hanging = new Set<ServerResponse>();
  let floorPosts = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const id = req.headers['webhook-id'] as string;
      if (req.url?.startsWith('/floor')) {
        floorPosts++;
        res.end('ok');
        return;
      }
      posts.set(id, (posts.get(id) ?? 0) + 1);
      if (!firstArrival.has(id)) firstArrival.set(id, performance.now());
      if (req.url?.startsWith('/hang')) hanging.add(res);
      else res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    firstArrival,
    posts,
    floorPosts: () => floorPosts,
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The floor: signed POST + one conditional PutItem of a delivery-sized record, FLOOR_CONCURRENCY at a time. */
async function floor(port: number, round: number): Promise<number> {
  const secret = generateSecret();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: FLOOR_CONCURRENCY }, async () => {
      while (next < FLOOR_OPS) {
        const n = next++;
        const id = `floor_${round}_${n}`;
        const body = JSON.stringify({
          type: 'task.created',
          timestamp: new Date().toISOString(),
          data: { n },
        });
        const headers = signedHeaders([secret], id, Math.floor(Date.now() / 1000), body);
        const t = performance.now();
        const res = await request(`http://127.0.0.1:${port}/floor`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json', 'user-agent': 'PronaFlow-Webhooks/1.0' },
          body,
        });
        const answer = await res.body.text();
        const at = new Date().toISOString();
        await db().send(
          new PutCommand({
            TableName: tableName(),
            Item: {
              pk: `BENCHFLOOR#${id}`,
              sk: 'DELIVERY',
              gsi1pk: 'WEBHOOK#floor',
              gsi1sk: `${at}#${id}`,
              entity: 'BenchFloor',
              id,
              status: 'DELIVERED',
              payload_gz: compressPayload(body),
              attempts: [
                {
                  cycle: 0,
                  attempt: 1,
                  started_at: at,
                  duration_ms: Math.round(performance.now() - t),
                  url: `http://127.0.0.1:${port}/floor`,
                  request_headers: headers,
                  status: res.statusCode,
                  response_headers: res.headers,
                  response_body: answer,
                },
              ],
              created_at: at,
              ttl: Math.floor(Date.now() / 1000) + 3600,
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
      }
    }),
  );
  return FLOOR_OPS / ((performance.now() - started) / 1000);
}

export async function benchWebhooks(opts: { json?: string } = {}): Promise<void> {
  const receiver = await startReceiver();
  const dir = mkdtempSync(join(tmpdir(), 'bench-webhooks-'));
  const stack = await startLocalStack({
    dir,
    inMemory: true,
    port: 0,
    tableName: 'bench-webhooks',
    onWorkerError: () => {},
  });
  const sqs = new SQSClient({
    endpoint: stack.sqs.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const identity = await testIdentity();
    const createEndpoint = async (ws: string, path: string) => {
      const jwt = await identity.jwt('u1', ws);
      const res = await fetch(`${stack.baseUrl}/v1/integration/webhooks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          name: path,
          url: `http://127.0.0.1:${receiver.port}${path}`,
          events: { 'task.created': true },
        }),
      });
      if (res.status !== 201) throw new Error(`create webhook answered ${res.status}`);
      return ((await res.json()) as { id: string }).id;
    };
    const healthy = await createEndpoint('ws1', '/ok/burst');
    const fairHealthy = await createEndpoint('ws2', '/ok/fair');
    const fairHanging = await createEndpoint('ws2', '/hang/fair');

    const sentAt = new Map<string, number>();
    let seq = 0;
    const emit = async (ws: string, count: number) => {
      const entries = Array.from({ length: count }, (_, j) => {
        const id = `evt_bench_${seq++}`;
        const event = {
          id,
          type: 'task.created',
          workspace_id: ws,
          occurred_at: new Date().toISOString(),
          data: { n: seq, title: 'A task', project_id: 'prj_1' },
        };
        return { Id: String(j), MessageBody: JSON.stringify(event), id };
      });
      for (const e of entries) sentAt.set(e.id, performance.now());
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: stack.sqs.urls.ingest,
          Entries: entries.map(({ Id, MessageBody }) => ({ Id, MessageBody })),
        }),
      );
      return entries.map((e) => e.id);
    };
    const arrived = (events: string[], endpointId: string) =>
      events.filter((e) => receiver.firstArrival.has(deliveryId(e, endpointId))).length;
    /**
     * Waits until every event's delivery arrived. The delivery ids are hashed once and the check
     * costs a Map lookup per missing delivery: this process also runs the pipeline, and polling
     * must not take its CPU.
     */
    const waitFor = async (events: string[], endpointId: string, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      let missing = events.map((e) => deliveryId(e, endpointId));
      while (missing.length && Date.now() < deadline) {
        missing = missing.filter((id) => !receiver.firstArrival.has(id));
        if (missing.length) await sleep(20);
      }
    };
    const latencies = (events: string[], endpointId: string) =>
      events
        .map(
          (e) => (receiver.firstArrival.get(deliveryId(e, endpointId)) ?? Number.NaN) - (sentAt.get(e) ?? 0),
        )
        .filter((v) => !Number.isNaN(v))
        .sort((a, b) => a - b);
    const counter = countDynamoCalls();
    /** Waits until no DynamoDB request was made for `quietMs` (the last records have landed). */
    const settle = async (quietMs = 1000) => {
      let last = -1;
      while (last !== counter.calls.length) {
        last = counter.calls.length;
        await sleep(quietMs);
      }
    };

    // Warm-up: JIT, connection pools, DynamoDB Local's JVM.
    const warm: string[] = [];
    for (let i = 0; i < WARMUP; i += 10) warm.push(...(await emit('ws1', 10)));
    await waitFor(warm, healthy, 60_000);
    await settle();

    const floorBefore = await floor(receiver.port, 1);
    await settle();

    // Burst.
    counter.reset();
    const cpuBefore = dynamoCpuMs(stack.dynamoEndpoint);
    const nodeBefore = process.cpuUsage();
    const profile = await startProfile();
    const burst: string[] = [];
    const started = performance.now();
    const sends: Promise<string[]>[] = [];
    for (let i = 0; i < BURST; i += 10) sends.push(emit('ws1', 10));
    for (const ids of await Promise.all(sends)) burst.push(...ids);
    await waitFor(burst, healthy, 180_000);
    const pipelineSeconds = (performance.now() - started) / 1000;
    const delivered = arrived(burst, healthy);
    await settle();
    const cpuAfter = dynamoCpuMs(stack.dynamoEndpoint);
    const nodeBurst = process.cpuUsage(nodeBefore);
    await profile?.stop();
    const burstRequests = counter.calls.length;
    const byCommand: Record<string, number> = {};
    for (const c of counter.calls) byCommand[c] = (byCommand[c] ?? 0) + 1;
    const ids = burst.map((e) => deliveryId(e, healthy));
    const duplicatePosts = ids.reduce((n, id) => n + Math.max(0, (receiver.posts.get(id) ?? 0) - 1), 0);

    const floorCpuBefore = dynamoCpuMs(stack.dynamoEndpoint);
    const floorNodeBefore = process.cpuUsage();
    const floorAfter = await floor(receiver.port, 2);
    const floorNode = process.cpuUsage(floorNodeBefore);
    const floorCpuAfter = dynamoCpuMs(stack.dynamoEndpoint);
    await settle();

    // Paced: 20 events/s.
    counter.reset();
    const paced: string[] = [];
    const pacedStart = performance.now();
    for (let i = 0; i < PACED_PER_S * PACED_SECONDS; i++) {
      const due = pacedStart + (i * 1000) / PACED_PER_S;
      await sleep(Math.max(0, due - performance.now()));
      paced.push(...(await emit('ws1', 1)));
    }
    await waitFor(paced, healthy, 30_000);
    await settle();
    const pacedRequests = counter.calls.length;
    const pacedLat = latencies(paced, healthy);

    // Fairness: a hanging endpoint next to a healthy one, 20 events/s.
    const fair: string[] = [];
    const fairStart = performance.now();
    for (let i = 0; i < PACED_PER_S * FAIR_SECONDS; i++) {
      const due = fairStart + (i * 1000) / PACED_PER_S;
      await sleep(Math.max(0, due - performance.now()));
      fair.push(...(await emit('ws2', 1)));
    }
    await waitFor(fair, fairHealthy, 30_000);
    const fairLat = latencies(fair, fairHealthy);
    const hangingPosts = fair.filter((e) => receiver.posts.has(deliveryId(e, fairHanging))).length;
    counter.stop();

    const floorRate = Math.max(floorBefore, floorAfter);
    const pipelineRate = delivered / pipelineSeconds;
    const figures = {
      events_burst: BURST,
      deliveries_received: delivered,
      pipeline_per_s: round(pipelineRate, 1),
      floor_per_s: round(floorRate, 1),
      floor_before_per_s: round(floorBefore, 1),
      floor_after_per_s: round(floorAfter, 1),
      ratio: round(pipelineRate / floorRate, 3),
      dynamodb_requests_per_delivery: round(burstRequests / Math.max(1, delivered), 3),
      dynamodb_requests_by_command: byCommand,
      // DynamoDB Local's CPU per delivery (burst, settle included) and per floor operation.
      dynamodb_cpu_ms_per_delivery:
        cpuBefore === undefined || cpuAfter === undefined
          ? undefined
          : round((cpuAfter - cpuBefore) / Math.max(1, delivered), 2),
      floor_dynamodb_cpu_ms_per_op:
        floorCpuBefore === undefined || floorCpuAfter === undefined
          ? undefined
          : round((floorCpuAfter - floorCpuBefore) / FLOOR_OPS, 2),
      // This process's CPU (the local stack, its workers, the SQS emulator and the receiver all
      // run on its one thread) per delivery of the burst and per floor operation.
      node_cpu_ms_per_delivery: round((nodeBurst.user + nodeBurst.system) / 1000 / Math.max(1, delivered), 2),
      floor_node_cpu_ms_per_op: round((floorNode.user + floorNode.system) / 1000 / FLOOR_OPS, 2),
      duplicate_posts: duplicatePosts,
      paced_events: paced.length,
      paced_p50_ms: Math.round(percentile(pacedLat, 50)),
      paced_p99_ms: Math.round(percentile(pacedLat, 99)),
      paced_dynamodb_requests_per_delivery: round(pacedRequests / Math.max(1, pacedLat.length), 3),
      fair_events: fair.length,
      fair_healthy_delivered: fairLat.length,
      fair_healthy_p50_ms: Math.round(percentile(fairLat, 50)),
      fair_healthy_p99_ms: Math.round(percentile(fairLat, 99)),
      fair_hanging_attempted: hangingPosts,
    };
    console.log(
      '\nWebhooks: local pipeline (ingest → fan-out → signed delivery) vs its floor (signed POST + PutItem)',
    );
    console.table(
      Object.entries(figures)
        .filter(([, v]) => typeof v !== 'object')
        .map(([measure, value]) => ({ measure, value })),
    );
    console.log('DynamoDB requests of the burst by command:', byCommand);
    if (opts.json) {
      writeFileSync(opts.json, `${JSON.stringify(figures, null, 2)}\n`);
      console.log(`(figures written to ${opts.json})`);
    }
  } finally {
    sqs.destroy();
    await receiver.close();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * With BENCH_CPU_PROFILE=<file>, a CPU profile of this process over the burst (open it in Chrome
 * DevTools or speedscope): where the pipeline's Node time goes.
 */
async function startProfile(): Promise<{ stop: () => Promise<void> } | undefined> {
  const file = process.env.BENCH_CPU_PROFILE;
  if (!file) return undefined;
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    stop: async () => {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
      console.log(`(CPU profile of the burst written to ${file})`);
    },
  };
}

function round(n: number, digits: number): number {
  return Number(n.toFixed(digits));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchWebhooks();
  process.exit(0);
}
