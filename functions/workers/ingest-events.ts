import { ingestMessage } from '#shared/events/ingest.ts';
import { queueWorker } from '#shared/queue-worker.ts';
import { tokensConsumers } from '#shared/tokens/consumers.ts';
import { webhooksConsumer } from '#shared/webhooks/fanout.ts';

/** Every feature's consumers of the ingest queue. */
export const consumers = [...tokensConsumers, webhooksConsumer];

export const handler = queueWorker('ingest-events', (record) =>
  ingestMessage(record.messageId, record.body, consumers, new Date(Number(record.attributes.SentTimestamp))),
);
