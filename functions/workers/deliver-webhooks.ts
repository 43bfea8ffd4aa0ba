import { queueWorker } from '#shared/queue-worker.ts';
import { deliveryQueueJob } from '#shared/webhooks/jobs.ts';
import { processJob } from '#shared/webhooks/worker.ts';

export const handler = queueWorker('deliver-webhooks', (record) =>
  processJob(
    deliveryQueueJob.parse(JSON.parse(record.body)),
    Number(record.attributes.ApproximateReceiveCount ?? '1'),
  ),
);
