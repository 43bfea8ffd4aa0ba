/**
 * Correlation ids and metrics across the platform kits, with real SQS (the local emulator): an id
 * given to an HTTP request comes back as its X-Correlation-Id, rides the queue message the handler
 * sends (an SQS message attribute set by shared/queues.ts, whoever builds the command) and is on
 * the log lines of the worker that handles that message (restored by shared/queue-worker.ts); the
 * Lambda context is on every line; a send to a DLQ counts DlqMoves. The local runtime's poller
 * (what `npm start` runs for every worker) hands the attributes over as Lambda does.
 */
import { type Message, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { workers } from '#functions/workers.ts';
import { lambdaContext, sqsEvent } from '#infra/local/lambda-event.ts';
import { pollQueue } from '#infra/local/poller.ts';
import { type Correlation, currentCorrelation, withCorrelation } from '#shared/correlation.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { route } from '#shared/http/route.ts';
import { logger } from '#shared/logger.ts';
import { resetMetrics } from '#shared/metrics.ts';
import { queueWorker } from '#shared/queue-worker.ts';
import { queueUrl, sendJson, sqs } from '#shared/queues.ts';
import { useTestSqs } from '#test/helpers/env.ts';
import { httpEvent } from '#test/helpers/http-event.ts';

const localSqs = useTestSqs();

/** Every JSON line written to stdout while `fn` runs (log lines and EMF). */
async function captured(fn: () => Promise<void>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  logger.setLogLevel('INFO');
  try {
    await fn();
  } finally {
    logger.setLogLevel('SILENT');
    spy.mockRestore();
  }
  return lines
    .flatMap((l) => l.split('\n'))
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

afterEach(() => {
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  resetMetrics();
});

const sendRoute = route({
  id: 'correlationProbe',
  method: 'POST',
  path: '/correlation-probe',
  handler: 'system/correlation-probe',
  auth: 'public',
  scopes: [],
  summary: 'test route: queues one job',
  tag: 'Test',
  responses: { 202: { description: 'queued' } },
});
const sendHandler = endpoint(sendRoute, async () => {
  logger.info('probe queues a job');
  await sendJson('INGEST_QUEUE_URL', { kind: 'probe', run_id: 'run_probe_1' });
  return { status: 202 };
});

async function receiveAll(url: string) {
  const out = await sqs().send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
      MessageSystemAttributeNames: ['All'],
      MessageAttributeNames: ['All'],
    }),
  );
  return out.Messages ?? [];
}

describe('correlation ids across the queues', () => {
  it("an HTTP request's X-Correlation-Id is answered back and is on the worker's log lines", async () => {
    const id = `corr-${Date.now()}`;
    const httpLines = await captured(async () => {
      const res = await sendHandler(
        httpEvent(sendRoute, { headers: { 'X-Correlation-Id': id } }),
        lambdaContext('correlationProbe'),
      );
      expect(res.statusCode).toBe(202);
      expect(res.headers?.['X-Correlation-Id']).toBe(id);
    });
    const probe = httpLines.find((l) => l.message === 'probe queues a job');
    expect(probe?.correlation_id).toBe(id);
    expect(probe?.function_name).toBe('correlationProbe');

    const messages = await receiveAll(queueUrl('INGEST_QUEUE_URL'));
    expect(messages).toHaveLength(1);
    expect(messages[0]?.MessageAttributes?.correlation_id?.StringValue).toBe(id);

    const seen: string[] = [];
    const worker = queueWorker('probe-worker', async () => {
      logger.info('probe worker handles the job');
      seen.push('ran');
    });
    const workerLines = await captured(async () => {
      const out = await worker(
        sqsEvent(messages, 'arn:aws:sqs:us-east-1:000000000000:corr-ingest'),
        lambdaContext('probeWorker'),
      );
      expect(out.batchItemFailures).toEqual([]);
    });
    expect(seen).toEqual(['ran']);
    const line = workerLines.find((l) => l.message === 'probe worker handles the job');
    expect(line).toMatchObject({
      correlation_id: id,
      run_id: 'run_probe_1',
      worker: 'probe-worker',
      function_name: 'probeWorker',
    });
    expect(typeof line?.function_request_id).toBe('string');
  });

  it('an unusable incoming id is replaced by the request id', async () => {
    const event = httpEvent(sendRoute, { headers: { 'X-Correlation-Id': 'bad id with spaces\n' } });
    const res = await sendHandler(event, lambdaContext('correlationProbe'));
    expect(res.headers?.['X-Correlation-Id']).toBe(event.requestContext.requestId);
    const messages = await receiveAll(queueUrl('INGEST_QUEUE_URL'));
    expect(messages[0]?.MessageAttributes?.correlation_id?.StringValue).toBe(event.requestContext.requestId);
  });

  it('side-by-side invocations keep their own ids', async () => {
    const lines = await captured(async () => {
      await Promise.all(
        ['alpha-1', 'beta-2', 'gamma-3'].map((id) =>
          sendHandler(httpEvent(sendRoute, { headers: { 'X-Correlation-Id': id } }), lambdaContext('p')),
        ),
      );
    });
    const probes = lines.filter((l) => l.message === 'probe queues a job').map((l) => l.correlation_id);
    expect(probes.sort()).toEqual(['alpha-1', 'beta-2', 'gamma-3']);
    const messages = await receiveAll(queueUrl('INGEST_QUEUE_URL'));
    const carried = messages.map((m) => m.MessageAttributes?.correlation_id?.StringValue).sort();
    expect(carried).toEqual(['alpha-1', 'beta-2', 'gamma-3']);
  });

  it('a worker sending on passes the id along; a send to a DLQ counts DlqMoves', async () => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'false';
    resetMetrics();
    const dlq = process.env.DELIVERY_DLQ_URL as string;
    await sqs().send(
      new SendMessageCommand({
        QueueUrl: queueUrl('INGEST_QUEUE_URL'),
        MessageBody: '{}',
        MessageAttributes: { correlation_id: { DataType: 'String', StringValue: 'chain-7' } },
      }),
    );
    const messages = await receiveAll(queueUrl('INGEST_QUEUE_URL'));
    const worker = queueWorker('forwarder', async () => {
      await sqs().send(new SendMessageCommand({ QueueUrl: dlq, MessageBody: '{"parked":true}' }));
    });
    const lines = await captured(async () => {
      await worker(sqsEvent(messages, 'arn:aws:sqs:us-east-1:000000000000:corr-ingest'), lambdaContext('f'));
    });
    const parked = await receiveAll(dlq);
    expect(parked[0]?.MessageAttributes?.correlation_id?.StringValue).toBe('chain-7');
    const emf = lines.filter((l) => '_aws' in l);
    const moves = emf.find((l) => 'DlqMoves' in l);
    expect(moves).toMatchObject({ DlqMoves: 1, queue: 'deliveries', service: 'pronaflow-integrations' });
    const done = emf.find((l) => 'QueueRecordsSucceeded' in l);
    expect(done).toMatchObject({ QueueRecordsSucceeded: 1, worker: 'forwarder' });
  });

  it("the local poller hands a message's correlation ids to the worker, as Lambda's event source mapping does", async () => {
    const worker = workers.find((w) => 'queue' in w.trigger && w.trigger.queue === 'ingest')!;
    const marker = `poller-${Date.now()}`;
    await withCorrelation({ correlation_id: 'chain-poller-1', event_id: 'evt_poller_1' }, () =>
      sendJson('INGEST_QUEUE_URL', { kind: marker }),
    );
    const seen: Correlation[] = [];
    const handler = queueWorker('probe-poller', async (record) => {
      if ((JSON.parse(record.body) as { kind?: string }).kind === marker)
        seen.push({ ...currentCorrelation()! });
    });
    // The emulator returns every message attribute whatever the request names; SQS returns only
    // those named in MessageAttributeNames (none by default): this client answers as SQS does.
    const asSqs = new SQSClient({
      endpoint: localSqs.current.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    asSqs.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        if (context.commandName === 'ReceiveMessageCommand') {
          const named = (args.input as { MessageAttributeNames?: string[] }).MessageAttributeNames ?? [];
          const all = named.includes('All') || named.includes('.*');
          for (const m of (out.output as { Messages?: Message[] }).Messages ?? []) {
            if (!all) {
              m.MessageAttributes = Object.fromEntries(
                Object.entries(m.MessageAttributes ?? {}).filter(([k]) => named.includes(k)),
              );
            }
          }
        }
        return out;
      },
      { step: 'initialize', name: 'asSqs' },
    );
    const stop = new AbortController();
    const polling = pollQueue({
      sqs: asSqs,
      worker,
      queueUrl: queueUrl('INGEST_QUEUE_URL'),
      signal: stop.signal,
      handler: handler as NonNullable<Parameters<typeof pollQueue>[0]['handler']>,
    });
    // Last in the file: an aborted long poll may still take a message sent in its last second.
    try {
      for (let i = 0; i < 100 && !seen.length; i++) await new Promise((r) => setTimeout(r, 50));
    } finally {
      stop.abort();
      await polling;
      asSqs.destroy();
    }
    expect(seen).toEqual([{ correlation_id: 'chain-poller-1', event_id: 'evt_poller_1' }]);
  });
});
