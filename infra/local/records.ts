/**
 * `npm run -s records -- [--max N] [--wait S] [--peek]` plays PronaFlow core on the running local
 * stack's records queue: prints each record message synced in (one JSON line each, schema
 * pronaflow.integration.record.v1, shared/bindings/records.ts) and acknowledges it (deletes it),
 * until the queue is empty. `--wait` long-polls that many seconds for the first message (default
 * 2); `--peek` prints without acknowledging (the messages reappear after the visibility timeout);
 * `--max` stops after N messages.
 */
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { cliArgs, fail } from './cli-args.ts';
import { readState } from './state.ts';

const usage = 'usage: npm run -s records -- [--max N] [--wait S] [--peek]';
const { values } = cliArgs(
  {
    max: { type: 'string', default: '100000' },
    wait: { type: 'string', default: '2' },
    peek: { type: 'boolean', default: false },
  },
  usage,
);
const max = Number(values.max);
const wait = Number(values.wait);
if (!Number.isInteger(max) || max < 1) fail(`--max takes a positive integer\n${usage}`);
if (!Number.isInteger(wait) || wait < 0 || wait > 20) fail(`--wait takes 0 to 20 seconds\n${usage}`);

try {
  const state = readState();
  const queueUrl = state.queueUrls.records;
  if (!queueUrl) fail('The running stack has no records queue.');
  const sqs = new SQSClient({
    endpoint: state.sqsEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  let seen = 0;
  for (let first = true; seen < max; first = false) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: Math.min(10, max - seen),
        WaitTimeSeconds: first ? wait : 0,
        // --peek: hand them back at once for the next reader.
        ...(values.peek ? { VisibilityTimeout: 0 } : {}),
      }),
    );
    const messages = out.Messages ?? [];
    if (!messages.length) break;
    for (const m of messages) process.stdout.write(`${m.Body}\n`);
    seen += messages.length;
    if (values.peek) break;
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
      }),
    );
  }
  sqs.destroy();
  process.stderr.write(
    `${seen} record message${seen === 1 ? '' : 's'} ${values.peek ? 'printed (not acknowledged)' : 'printed and acknowledged'}\n`,
  );
} catch (err) {
  fail((err as Error).message);
}
