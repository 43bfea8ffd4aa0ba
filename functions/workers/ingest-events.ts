import { bindingsConsumers } from '#shared/bindings/consumer.ts';
import { ingestMessage } from '#shared/events/ingest.ts';
import { lifecycleConsumer } from '#shared/lifecycle/consumer.ts';
import { participants } from '#shared/lifecycle/participants.ts';
import { queueWorker } from '#shared/queue-worker.ts';
import { tokensConsumers } from '#shared/tokens/consumers.ts';
import { webhooksConsumer } from '#shared/webhooks/fanout.ts';

/**
 * Every feature's consumers of the ingest queue. The lifecycle consumer marks a deleted subject's
 * items with every feature's participant before the event is acknowledged (then sweeps elsewhere).
 */
export const consumers = [
  ...tokensConsumers,
  webhooksConsumer,
  ...bindingsConsumers,
  lifecycleConsumer(participants),
];

export const handler = queueWorker('ingest-events', (record) =>
  ingestMessage(
    record.messageId,
    record.body,
    consumers,
    new Date(Number(record.attributes.SentTimestamp)),
    Number(record.attributes.ApproximateReceiveCount) || 1,
  ),
);
