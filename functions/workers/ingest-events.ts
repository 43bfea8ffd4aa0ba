import { ingestMessage } from '#shared/events/ingest.ts';
import { queueWorker } from '#shared/queue-worker.ts';

export const handler = queueWorker('ingest-events', (record) =>
  ingestMessage(record.messageId, record.body, undefined, new Date(Number(record.attributes.SentTimestamp))),
);
