/**
 * The webhook delivery metrics as the delivery worker's stages emit them (the EMF lines read back):
 * the send stage counts an attempt and its latency once a request went out (not for a target
 * refused before any request); the follow-up counts each recorded outcome once: delivered →
 * succeeded; retry → failed + retried; failed → failed + exhausted; expired or endpoint unavailable
 * → exhausted, plus failed when an attempt was made. The failure-rate alarm reads these.
 */
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { flushMetrics } from '#shared/metrics.ts';
import type { PinnedRequester } from '#shared/net/pinned-http.ts';
import { compressPayload, payloadOf } from '#shared/webhooks/delivery-payload.ts';
import type { DeliveryItem } from '#shared/webhooks/delivery-store.ts';
import { type AttemptOutcome, followUp, sendAttempt } from '#shared/webhooks/worker.ts';
import { useCapturedOutput } from '#test/helpers/captured-output.ts';
import { setEnv } from '#test/helpers/env.ts';

const sqsMock = mockClient(SQSClient);
afterAll(() => sqsMock.restore());

const output = useCapturedOutput();
beforeEach(() => {
  setEnv({
    ALLOW_LOOPBACK_TARGETS: 'true',
    WEBHOOK_TIMEOUT_SECONDS: '5',
    DELIVERY_QUEUE_URL: 'http://sqs.local/000000000000/deliveries',
    DELIVERY_DLQ_URL: 'http://sqs.local/000000000000/deliveries-dlq',
  });
  sqsMock.reset();
  sqsMock.on(SendMessageCommand).resolves({ MessageId: 'm1' });
});

/** The values each webhook delivery metric got since the test began (flushed first). */
function emitted(): Record<string, number[]> {
  flushMetrics();
  const out: Record<string, number[]> = {};
  for (const line of output.emf() as (Record<string, unknown> & {
    _aws: { CloudWatchMetrics: { Metrics: { Name: string }[] }[] };
  })[]) {
    for (const { Name } of line._aws.CloudWatchMetrics[0]?.Metrics ?? []) {
      if (!Name.startsWith('WebhookDelivery')) continue;
      const v = line[Name];
      out[Name] = [...(out[Name] ?? []), ...(Array.isArray(v) ? (v as number[]) : [v as number])];
    }
  }
  return out;
}

const now = new Date('2026-05-01T10:00:00.000Z');
const d: DeliveryItem = {
  pk: 'DELIVERY#dlv_m',
  sk: 'DELIVERY',
  gsi1pk: 'WEBHOOK#wh_m',
  gsi1sk: `${now.toISOString()}#dlv_m`,
  entity: 'WebhookDelivery',
  id: 'dlv_m',
  endpoint_id: 'wh_m',
  workspace_id: 'ws_m',
  event_id: 'evt_m',
  event_type: 'task.created',
  payload_gz: compressPayload(payloadOf({ type: 'task.created', occurred_at: now.toISOString(), data: {} })),
  status: 'PENDING',
  cycle: 0,
  attempt_count: 0,
  attempts: [],
  created_at: now.toISOString(),
  updated_at: now.toISOString(),
  expires_at: new Date(now.getTime() + 86400_000).toISOString(),
  next_attempt_at: now.toISOString(),
  ttl: Math.floor(now.getTime() / 1000) + 30 * 86400,
};

describe('webhook delivery metrics', () => {
  it('the send stage counts an attempt and its round trip once a request went out', async () => {
    const post: PinnedRequester = async () => ({
      status: 500,
      headers: {},
      body: '',
      bodyTruncated: false,
      durationMs: 42,
    });
    const claim = { d, leaseId: 'l', now };
    await sendAttempt({ claim, endpoint: { url: 'http://127.0.0.1:9/hook' }, secrets: [] }, { post });
    // A target refused by the URL guard: no request, no attempt counted.
    const refused = await sendAttempt(
      { claim, endpoint: { url: 'http://169.254.169.254/latest' }, secrets: [] },
      { post },
    );
    expect(refused.posted).toBe(false);
    expect(emitted()).toEqual({ WebhookDeliveryAttempts: [1], WebhookDeliveryLatency: [42] });
  });

  it.each<[string, AttemptOutcome, boolean, Record<string, number[]>]>([
    ['a delivery', { kind: 'delivered' }, true, { WebhookDeliverySucceeded: [1] }],
    [
      'a retry',
      { kind: 'retry', nextAttemptAt: '2026-05-01T10:01:00.000Z' },
      true,
      { WebhookDeliveryFailed: [1], WebhookDeliveryRetried: [1] },
    ],
    [
      'retries used up',
      { kind: 'failed', error: 'HTTP 500', deadLetter: true },
      true,
      { WebhookDeliveryFailed: [1], WebhookDeliveryExhausted: [1] },
    ],
    [
      'an expiry after an attempt',
      { kind: 'expired', error: 'late' },
      true,
      { WebhookDeliveryFailed: [1], WebhookDeliveryExhausted: [1] },
    ],
    [
      'an expiry before any attempt',
      { kind: 'expired', error: 'late' },
      false,
      { WebhookDeliveryExhausted: [1] },
    ],
    [
      'an unavailable endpoint',
      { kind: 'endpoint-unavailable', error: 'The endpoint was deleted' },
      false,
      { WebhookDeliveryExhausted: [1] },
    ],
  ])('the follow-up of %s counts its outcome once', async (_, outcome, attempted, expected) => {
    await followUp(
      { kind: 'recorded', d, outcome, recorded: {}, now, attempted },
      { maxSqsDelaySeconds: 900 },
    );
    expect(emitted()).toEqual(expected);
  });

  it('a resumed follow-up (after a crash between record and send) counts nothing again', async () => {
    await followUp(
      { kind: 'resume', d: { ...d, status: 'FAILED', dead_letter: true, attempt_count: 4 } },
      { maxSqsDelaySeconds: 900 },
    );
    expect(emitted()).toEqual({});
  });
});
