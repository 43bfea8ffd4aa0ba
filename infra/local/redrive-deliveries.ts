/**
 * `npm run redrive:deliveries` moves the messages the deliveries DLQ holds when it starts back to
 * the delivery queue, one per delivery (see shared/webhooks/redrive.ts: each FAILED delivery is
 * restarted once per run, and this never duplicates a delivery). Against `npm start` it finds the queues
 * by itself; in AWS set DELIVERY_QUEUE_URL (and DELIVERY_DLQ_URL, or let it be found from the
 * queue's redrive policy) with credentials allowed to receive from the DLQ and send to the queue.
 */
import { existsSync } from 'node:fs';
import { resetConfig } from '#shared/config.ts';
import { queueUrl, resetSqs, sqs } from '#shared/queues.ts';
import { deliveryDlqUrl } from '#shared/webhooks/jobs.ts';
import { redriveDeliveries } from '#shared/webhooks/redrive.ts';
import { readState, STATE_FILE } from './state.ts';

try {
  if (!process.env.DELIVERY_QUEUE_URL && existsSync(STATE_FILE)) {
    const state = readState();
    process.env.SQS_ENDPOINT = state.sqsEndpoint;
    process.env.DELIVERY_QUEUE_URL = state.queueUrls.deliveries;
    process.env.AWS_REGION ??= 'us-east-1';
    resetConfig();
    resetSqs();
  }
  const target = queueUrl('DELIVERY_QUEUE_URL');
  const dlq = await deliveryDlqUrl();
  const { moved, duplicates, deferred } = await redriveDeliveries({
    client: sqs(),
    dlqUrl: dlq,
    queueUrl: target,
  });
  process.stdout.write(
    `moved ${moved} message(s) from ${dlq} to ${target}; ${duplicates} duplicate(s) deleted; ` +
      `${deferred} left for the next run (sent after this run started, or another job of a delivery moved now)\n`,
  );
} catch (err) {
  process.stderr.write(`redrive failed: ${(err as Error).message}\n`);
  process.exit(1);
}
