import type { Context, SQSEvent } from 'aws-lambda';
import * as v from 'valibot';
import { queueWorker } from '#shared/queue-worker.ts';
import { withDeliveryBatch } from '#shared/webhooks/delivery-store.ts';
import { deliveryQueueJob } from '#shared/webhooks/jobs.ts';
import { processJob } from '#shared/webhooks/worker.ts';

const worker = queueWorker('deliver-webhooks', (record) =>
  processJob(
    v.parse(deliveryQueueJob, JSON.parse(record.body)),
    Number(record.attributes.ApproximateReceiveCount ?? '1'),
  ),
);

/** A batch's successes delete their expiry markers together, at its end (withDeliveryBatch). */
export const handler = (event: SQSEvent, context: Context) => withDeliveryBatch(() => worker(event, context));
