/**
 * What the correlation ids do to a queue message, with real SQS (the local emulator, which counts
 * message attributes toward the size limits as SQS does): a job's own ids from its body win over
 * the ids a message carries, only the chain's ids (correlation_id, event_id) cross a queue, the
 * carried ids give way to the caller's own attributes under SQS's 10, records are sized with
 * room for the attributes, and DlqMoves counts the messages SQS accepted, not the sends tried.
 */
import { ReceiveMessageCommand, SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sqsRecord } from '#infra/local/lambda-event.ts';
import {
  MAX_RECORD_BATCH_BYTES,
  MAX_RECORD_BYTES,
  publishRecords,
  RECORD_SCHEMA,
  type RecordMessage,
  recordBytes,
} from '#shared/bindings/records.ts';
import { MAX_ID_LENGTH, withCorrelation } from '#shared/correlation.ts';
import { flushMetrics, resetMetrics } from '#shared/metrics.ts';
import { recordCorrelation } from '#shared/queue-worker.ts';
import {
  MAX_CARRIED_ATTRIBUTE_BYTES,
  MAX_MESSAGE_ATTRIBUTES,
  queueUrl,
  sendJson,
  sqs,
} from '#shared/queues.ts';
import { useTestSqs } from '#test/helpers/env.ts';

useTestSqs();
afterEach(() => {
  vi.restoreAllMocks();
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  resetMetrics();
});

async function receiveAll(url: string) {
  const out = await sqs().send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
      MessageAttributeNames: ['All'],
    }),
  );
  return out.Messages ?? [];
}

const record = (body: unknown, attributes: Record<string, string>): SQSRecord =>
  sqsRecord({
    messageId: 'm-1',
    receiptHandle: 'r-1',
    body: JSON.stringify(body),
    queueArn: 'arn:aws:sqs:us-east-1:000000000000:qids-deliveries',
    messageAttributes: Object.fromEntries(
      Object.entries(attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]),
    ),
  });

/** The longest ids the correlation carries (what the attribute allowance must cover). */
const longest = {
  correlation_id: 'c'.repeat(MAX_ID_LENGTH),
  event_id: 'e'.repeat(MAX_ID_LENGTH),
  run_id: 'r'.repeat(MAX_ID_LENGTH),
  delivery_id: 'd'.repeat(MAX_ID_LENGTH),
};

describe("a record's correlation", () => {
  it("takes the job's own ids from its body over the ids the message carries", () => {
    const ids = recordCorrelation(
      record(
        { delivery_id: 'dlv_own', run_id: 'run_own', event_id: 'evt_own' },
        { correlation_id: 'chain-1', delivery_id: 'dlv_stale', run_id: 'run_stale', event_id: 'evt_stale' },
      ),
    );
    expect(ids).toEqual({
      correlation_id: 'chain-1',
      delivery_id: 'dlv_own',
      run_id: 'run_own',
      event_id: 'evt_own',
    });
  });

  it("keeps the carried event id when the body names none, and never a sender's delivery or run id", () => {
    const ids = recordCorrelation(
      record(
        { kind: 'x' },
        { correlation_id: 'chain-2', event_id: 'evt_1', delivery_id: 'dlv_stale', run_id: 'r' },
      ),
    );
    expect(ids).toEqual({ correlation_id: 'chain-2', event_id: 'evt_1' });
  });
});

describe('carried ids on a send', () => {
  it('only the chain ids cross a queue (a run or delivery id stays with its job)', async () => {
    await withCorrelation(
      { correlation_id: 'chain-3', event_id: 'evt_3', run_id: 'run_3', delivery_id: 'd' },
      () => sendJson('INGEST_QUEUE_URL', { kind: 'next' }),
    );
    const [m] = await receiveAll(queueUrl('INGEST_QUEUE_URL'));
    expect(Object.keys(m?.MessageAttributes ?? {}).sort()).toEqual(['correlation_id', 'event_id']);
    expect(m?.MessageAttributes?.correlation_id?.StringValue).toBe('chain-3');
  });

  it("give way to the caller's own attributes under SQS's 10, correlation_id kept first", async () => {
    const own = (n: number) =>
      Object.fromEntries(
        Array.from({ length: n }, (_, i) => [`own_${i}`, { DataType: 'String', StringValue: String(i) }]),
      );
    const url = queueUrl('INGEST_QUEUE_URL');
    await withCorrelation({ correlation_id: 'chain-4', event_id: 'evt_4' }, async () => {
      await sqs().send(
        new SendMessageBatchCommand({
          QueueUrl: url,
          Entries: [
            { Id: 'nine', MessageBody: '9', MessageAttributes: own(MAX_MESSAGE_ATTRIBUTES - 1) },
            { Id: 'ten', MessageBody: '10', MessageAttributes: own(MAX_MESSAGE_ATTRIBUTES) },
            { Id: 'eight', MessageBody: '8', MessageAttributes: own(MAX_MESSAGE_ATTRIBUTES - 2) },
          ],
        }),
      );
    });
    const byBody = new Map((await receiveAll(url)).map((m) => [m.Body, m.MessageAttributes ?? {}]));
    const nine = byBody.get('9')!;
    expect(Object.keys(nine)).toHaveLength(MAX_MESSAGE_ATTRIBUTES);
    expect(nine.correlation_id?.StringValue).toBe('chain-4');
    expect(nine).not.toHaveProperty('event_id');
    const ten = byBody.get('10')!;
    expect(Object.keys(ten)).toHaveLength(MAX_MESSAGE_ATTRIBUTES);
    expect(ten).not.toHaveProperty('correlation_id');
    expect(Object.keys(byBody.get('8')!)).toHaveLength(MAX_MESSAGE_ATTRIBUTES);
    expect(byBody.get('8')!.event_id?.StringValue).toBe('evt_4');
  });
});

/** A record whose JSON body is `bytes` long. */
function recordOf(bytes: number, id: string): RecordMessage {
  const base: RecordMessage = {
    schema: RECORD_SCHEMA,
    idempotency_key: `b:${id}`,
    op: 'upsert',
    entity: 'task',
    workspace_id: 'ws_1',
    project_id: null,
    binding_id: 'bnd_1',
    run_id: 'run_1',
    pronaflow_id: `task_${id}`,
    created: true,
    parent_external_id: null,
    parent: null,
    external: {
      provider: 'github',
      resource_key: 'a/b#issues',
      id,
      url: null,
      updated_at: '2026-12-02T00:00:00Z',
    },
    values: { pad: '' },
    occurred_at: '2026-12-02T00:00:00Z',
  };
  const pad = bytes - recordBytes(base);
  const out = { ...base, values: { pad: 'x'.repeat(pad) } };
  expect(recordBytes(out)).toBe(bytes);
  return out;
}

describe('records sized with room for the attributes', () => {
  it('a body that fits 256 KiB alone but not with the carried ids is refused, not failed by SQS', async () => {
    const tooBig = recordOf(256 * 1024 - 50, 'big');
    const small = recordOf(1000, 'small');
    const refused = await withCorrelation(longest, () => publishRecords([tooBig, small]));
    expect(refused.map((r) => r.external.id)).toEqual(['big']);
    const got = await receiveAll(queueUrl('RECORDS_QUEUE_URL'));
    expect(got.map((m) => (JSON.parse(m.Body ?? '{}') as RecordMessage).external.id)).toEqual(['small']);
    expect(got[0]?.MessageAttributes?.correlation_id?.StringValue).toBe(longest.correlation_id);
  });

  it('records of the largest body, with the longest ids, all reach the queue (each message and batch within SQS limits)', async () => {
    const n = Math.floor(MAX_RECORD_BATCH_BYTES / (MAX_RECORD_BYTES + MAX_CARRIED_ATTRIBUTE_BYTES)) + 1;
    expect(n).toBeGreaterThan(1); // more than one batch's worth
    const messages = Array.from({ length: n }, (_, i) => recordOf(MAX_RECORD_BYTES, `max${i}`));
    const refused = await withCorrelation(longest, () => publishRecords(messages));
    expect(refused).toEqual([]);
    const ids: string[] = [];
    for (let tries = 0; tries < 5 && ids.length < n; tries++) {
      for (const m of await receiveAll(queueUrl('RECORDS_QUEUE_URL'))) {
        ids.push((JSON.parse(m.Body ?? '{}') as RecordMessage).external.id);
      }
    }
    expect(ids.sort()).toEqual(messages.map((m) => m.external.id).sort());
  });
});

describe('DlqMoves', () => {
  const captureEmf = () => {
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    return () =>
      lines
        .flatMap((l) => l.split('\n'))
        .filter((l) => l.includes('"_aws"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
  };

  it('counts the messages SQS accepted into a DLQ, not the sends tried', async () => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'false';
    resetMetrics();
    const emf = captureEmf();
    const dlq = process.env.DELIVERY_DLQ_URL as string;
    const out = await sqs().send(
      new SendMessageBatchCommand({
        QueueUrl: dlq,
        Entries: [
          { Id: 'ok1', MessageBody: '{"parked":1}' },
          { Id: 'bad', MessageBody: 'not allowed: \u0001' },
          { Id: 'ok2', MessageBody: '{"parked":2}' },
        ],
      }),
    );
    expect(out.Failed?.map((f) => f.Id)).toEqual(['bad']);
    flushMetrics();
    expect(emf().find((l) => 'DlqMoves' in l)).toMatchObject({ DlqMoves: 2, queue: 'deliveries' });
  });

  it('a send to a DLQ that SQS refused counts nothing', async () => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'false';
    resetMetrics();
    const emf = captureEmf();
    const dlq = process.env.DELIVERY_DLQ_URL as string;
    await expect(
      sqs().send(new SendMessageCommand({ QueueUrl: dlq, MessageBody: 'not allowed: \u0001' })),
    ).rejects.toThrow();
    flushMetrics();
    expect(emf().filter((l) => 'DlqMoves' in l)).toEqual([]);
  });
});
