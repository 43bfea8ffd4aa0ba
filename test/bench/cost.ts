/**
 * `npm run bench -- cost`: the cost model of the README ("Cost model"), computed from its inputs
 * so the table cannot drift from them. Lambda memory and architecture are read from the code
 * (FUNCTION_DEFAULTS and each worker's `memoryMb`); prices, measured request counts and the
 * assumptions are the constants below, each in one place. Prints a Markdown table; asserts
 * nothing. Free tier excluded; us-east-1; USD.
 */
import { workers } from '#functions/features.ts';
import { FUNCTION_DEFAULTS } from '#infra/constructs/api-function.ts';

/** Published us-east-1 prices, read 2026-12-02 (aws.amazon.com/<service>/pricing), first tier. */
export const PRICES = {
  /** Lambda, Arm: per GB-second (first 7.5 billion GB-s a month) and per request. */
  lambdaArmGbSecond: 0.0000133334,
  lambdaRequest: 0.2 / 1e6,
  /** API Gateway HTTP API, per request (first 300 million a month; metered per 512 KB). */
  httpApiRequest: 1.0 / 1e6,
  /** DynamoDB on-demand, Standard table class: per write and per read request unit. */
  dynamoWru: 0.625 / 1e6,
  dynamoRru: 0.125 / 1e6,
  /** SQS standard queue, per request (each 64 KB of payload is a request). */
  sqsRequest: 0.4 / 1e6,
  /** CloudWatch Logs, Standard class, per GB ingested (Lambda's vended-log tier starts here too). */
  logsIngestGb: 0.5,
  /** X-Ray, per trace recorded. */
  xrayTrace: 5.0 / 1e6,
  /** Secrets Manager, per API call (0.05 per 10 000). */
  secretsCall: 0.05 / 1e4,
};

/**
 * Measured request counts (the single place to update them).
 * - tokens: 2 DynamoDB requests per token-authenticated request (the record GetItem, strongly
 *   consistent, under 4 KB: 1 RRU; the rate-limit counter UpdateItem, under 1 KB: 1 WRU), counted
 *   by test/integration tokens tests and `npm run bench -- tokens`.
 * - webhooks: DynamoDB requests per first-attempt delivery in the burst of `npm run bench --
 *   webhooks` (README "Webhook deliveries", 2026-12-02: 1.25–1.26 across three runs; no
 *   transaction and no expiry marker on the path of a first success); request units are
 *   estimated below from what those requests write.
 */
export const MEASURED = {
  tokenAuthDynamoRequests: 2,
  webhookDynamoRequestsPerDelivery: 1.25,
};

/** Assumptions (stated in the README). Durations are billed wall time in AWS, not measured there. */
export const ASSUMED = {
  /** A token-authenticated read route: auth (1 RRU + 1 WRU) plus one read of its own (1 RRU). */
  apiRouteReadRru: 1,
  /** Billed duration of a warm API invocation (local: 64–209 ms against DynamoDB Local under load). */
  apiDurationMs: 40,
  /** Cold starts: share of invocations, and init time billed (Node 24 managed runtime bills init). */
  coldStartShare: 0.01,
  coldStartMs: 400,
  /** Usage log: one SQS message per request; the worker takes batches of 10 (batchSize). */
  usageBatch: 10,
  /** Usage worker: a BatchWriteItem of the logs (1 WRU each, < 1 KB) + last_used per token and batch. */
  usageLogWru: 1,
  usageLastUsedWruPerBatch: 1,
  usageBatchDurationMs: 60,
  /** Log bytes per API invocation: "request done" line (measured 590–640 B), START/END/REPORT (~350 B), EMF (~1 KB). */
  apiLogBytes: 640 + 350 + 1000,
  /** Log bytes per worker invocation (platform lines + EMF; workers log no line per record at INFO). */
  workerLogBytes: 350 + 1000,
  /** X-Ray: share of invocations traced. The default rule: 1 a second, then 5 %. */
  xraySampled: 0.05,
  /** Webhooks: one event → one subscribed endpoint; batches of 10 on both queues. */
  ingestBatch: 10,
  deliveryBatch: 10,
  /**
   * Write request units per first-attempt delivery, ~1 KB event (delivery item ~2 KB with its
   * payload), from what shared/webhooks/delivery-store.ts writes. Every write of a delivery is
   * also written into gsi1 (the deliveries' listing; projection ALL: the whole item, 1 WRU per KB).
   */
  webhookWruPerDelivery: {
    // The fan-out writes no delivery (the job carries it): the first outcome creates the record,
    // one conditional PutItem with the attempt, no transaction, no expiry marker.
    'delivery created with its outcome: conditional PutItem (≤ 3 KB with the attempt)': 3,
    'its gsi1 copy (3 KB)': 3,
    // Status counters: summed per worker batch, 2 UpdateItems (workspace, service) per batch of 10.
    'status counters (2 per batch of 10)': 0.2,
    // Endpoint stats: at most once a second per endpoint and process; at most 1 per batch of 10.
    'endpoint stats (≤ 1 a second per endpoint and process)': 0.1,
    // The fan-out's note on the endpoint (a workspace deletion waits for in-flight first
    // attempts): at most once a second per endpoint and process; at most 1 per ingest batch.
    'endpoint note of unwritten jobs (≤ 1 a second per endpoint and process)': 0.1,
  },
  /** Read units per delivery: the fan-out's subscription Query per event (eventually consistent). */
  webhookRruPerDelivery: 0.5,
  /** Durations: ingest worker per batch of 10 events; delivery worker per batch (records in parallel; the receiver's latency is billed). */
  ingestBatchDurationMs: 80,
  deliveryBatchDurationMs: 250,
  /** Sync: records per SendMessageBatch (10) and DynamoDB requests per record (bench: 0.06, 1 WRU each assumed). */
  syncRecordsPerSend: 10,
  syncDynamoWruPerRecord: 0.06,
  /** Sync worker: 600 records/s measured locally → ~1.7 ms per record at its memory. */
  syncMsPerRecord: 1.7,
  /** The README's worked example: a month's traffic, in millions. */
  example: { apiMillions: 10, deliveryMillions: 5, recordMillions: 1 },
  /** Secrets Manager: the keyring and app credentials are cached 5 minutes per environment. */
  secretsCallsPerEnvHour: 12,
};

const memoryGb = (mb: number) => mb / 1024;
const workerMemory = (id: string) =>
  workers.find((w) => w.id === id)?.memoryMb ?? FUNCTION_DEFAULTS.memorySize;

type Line = [component: string, dollars: number, basis: string];

function lambda(invocations: number, ms: number, mb: number): number {
  const billedMs = ms + ASSUMED.coldStartShare * ASSUMED.coldStartMs;
  return (
    invocations * PRICES.lambdaRequest +
    invocations * (billedMs / 1000) * memoryGb(mb) * PRICES.lambdaArmGbSecond
  );
}

/** Per million token-authenticated API calls. */
export function apiCalls(): Line[] {
  const n = 1e6;
  const mb = FUNCTION_DEFAULTS.memorySize;
  const usageInvocations = n / ASSUMED.usageBatch;
  const usageMb = workerMemory('recordUsage');
  return [
    ['API Gateway HTTP API', n * PRICES.httpApiRequest, '1 request each'],
    ['Lambda (route)', lambda(n, ASSUMED.apiDurationMs, mb), `${mb} MB arm64, ${ASSUMED.apiDurationMs} ms`],
    [
      'DynamoDB (auth + route read)',
      n * (PRICES.dynamoRru * (1 + ASSUMED.apiRouteReadRru) + PRICES.dynamoWru),
      `${MEASURED.tokenAuthDynamoRequests} auth requests (1 RRU + 1 WRU) + ${ASSUMED.apiRouteReadRru} RRU`,
    ],
    [
      'SQS (usage log)',
      (n + 2 * usageInvocations) * PRICES.sqsRequest,
      `send 1, receive and delete 1 per ${ASSUMED.usageBatch}`,
    ],
    [
      'Lambda (record-usage)',
      lambda(usageInvocations, ASSUMED.usageBatchDurationMs, usageMb),
      `${usageMb} MB, ${ASSUMED.usageBatchDurationMs} ms per batch`,
    ],
    [
      'DynamoDB (usage logs)',
      (n * ASSUMED.usageLogWru + usageInvocations * ASSUMED.usageLastUsedWruPerBatch) * PRICES.dynamoWru,
      `${ASSUMED.usageLogWru} WRU per log + ${ASSUMED.usageLastUsedWruPerBatch} per batch`,
    ],
    [
      'CloudWatch Logs',
      ((n * ASSUMED.apiLogBytes + usageInvocations * ASSUMED.workerLogBytes) / 1e9) * PRICES.logsIngestGb,
      `${ASSUMED.apiLogBytes} B per call`,
    ],
    [
      'X-Ray',
      (n + usageInvocations) * ASSUMED.xraySampled * PRICES.xrayTrace,
      `${ASSUMED.xraySampled * 100} % sampled`,
    ],
  ];
}

/** Per million first-attempt webhook deliveries (2xx), from the ingest queue on. */
export function webhookDeliveries(): Line[] {
  const n = 1e6;
  const ingestInv = n / ASSUMED.ingestBatch;
  const deliveryInv = n / ASSUMED.deliveryBatch;
  const wru = Object.values(ASSUMED.webhookWruPerDelivery).reduce((a, b) => a + b, 0);
  const ingestMb = workerMemory('ingestEvents');
  const deliverMb = workerMemory('deliverWebhooks');
  return [
    [
      'SQS (ingest + deliveries)',
      (n + 2 * ingestInv + n / 10 + 2 * deliveryInv) * PRICES.sqsRequest,
      'event sent 1; receive+delete per 10; SendMessageBatch of 10; receive+delete per 10',
    ],
    [
      'Lambda (ingest + deliver)',
      lambda(ingestInv, ASSUMED.ingestBatchDurationMs, ingestMb) +
        lambda(deliveryInv, ASSUMED.deliveryBatchDurationMs, deliverMb),
      `${ingestMb}/${deliverMb} MB, ${ASSUMED.ingestBatchDurationMs}/${ASSUMED.deliveryBatchDurationMs} ms per batch of 10`,
    ],
    [
      'DynamoDB',
      n * (wru * PRICES.dynamoWru + ASSUMED.webhookRruPerDelivery * PRICES.dynamoRru),
      `${MEASURED.webhookDynamoRequestsPerDelivery} requests (measured), ~${+wru.toFixed(1)} WRU + ${ASSUMED.webhookRruPerDelivery} RRU (estimated)`,
    ],
    [
      'CloudWatch Logs',
      (((ingestInv + deliveryInv) * ASSUMED.workerLogBytes) / 1e9) * PRICES.logsIngestGb,
      `${ASSUMED.workerLogBytes} B per batch`,
    ],
    [
      'X-Ray',
      (ingestInv + deliveryInv) * ASSUMED.xraySampled * PRICES.xrayTrace,
      `${ASSUMED.xraySampled * 100} % of invocations`,
    ],
  ];
}

/** Per million records a binding sync hands to PronaFlow (provider calls and the records queue's consumer excluded). */
export function syncRecords(): Line[] {
  const n = 1e6;
  const mb = workerMemory('syncRuns');
  return [
    [
      'SQS (records queue send)',
      (n / ASSUMED.syncRecordsPerSend) * PRICES.sqsRequest,
      'SendMessageBatch of 10',
    ],
    [
      'Lambda (sync run)',
      lambda(1, n * ASSUMED.syncMsPerRecord, mb) - PRICES.lambdaRequest,
      `${mb} MB, ${ASSUMED.syncMsPerRecord} ms per record`,
    ],
    [
      'DynamoDB',
      n * ASSUMED.syncDynamoWruPerRecord * PRICES.dynamoWru,
      `${ASSUMED.syncDynamoWruPerRecord} requests per record, 1 WRU each`,
    ],
  ];
}

const money = (d: number) => (d >= 0.1 ? d.toFixed(2) : d.toFixed(3));

/** The README's tables (between its `<!-- cost-table -->` markers; test/bench/cost.test.ts compares). */
export function costTable(): string {
  const sections: [string, Line[]][] = [
    ['Per million API calls (token-authenticated reads)', apiCalls()],
    ['Per million webhook deliveries (first attempt, 2xx)', webhookDeliveries()],
    ['Per million sync records', syncRecords()],
  ];
  const out: string[] = [];
  for (const [title, lines] of sections) {
    const total = lines.reduce((a, [, d]) => a + d, 0);
    out.push(`**${title}: $${money(total)}**`, '', '| component | USD | basis |', '|---|---:|---|');
    for (const [component, dollars, basis] of lines)
      out.push(`| ${component} | ${money(dollars)} | ${basis} |`);
    out.push('');
  }
  const [api, deliveries, records] = sections.map(([, lines]) => lines.reduce((a, [, d]) => a + d, 0)) as [
    number,
    number,
    number,
  ];
  const { apiMillions, deliveryMillions, recordMillions } = ASSUMED.example;
  const example = apiMillions * api + deliveryMillions * deliveries + recordMillions * records;
  out.push(
    `Worked example, a month of ${apiMillions} M API calls, ${deliveryMillions} M deliveries and ${recordMillions} M sync records: ${apiMillions} × ${money(api)} + ${deliveryMillions} × ${money(deliveries)} + ${recordMillions} × ${money(records)} = **$${money(example)}** of traffic, before the fixed costs below.`,
    '',
  );
  const envMonth = ASSUMED.secretsCallsPerEnvHour * 730 * PRICES.secretsCall;
  out.push(
    `Secrets Manager (cached 5 min): ${ASSUMED.secretsCallsPerEnvHour} calls an hour per warm execution environment, $${money(envMonth)} per environment-month, whatever the traffic.`,
  );
  return out.join('\n');
}

export async function benchCost(): Promise<void> {
  console.log(costTable());
}
