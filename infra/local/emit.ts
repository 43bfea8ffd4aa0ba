/**
 * `npm run -s emit -- <event-type> --workspace <id> [--data '<json>'] [--id <event id>]` sends a
 * PronaFlow event to the running local stack's ingest queue, as an event source would.
 */
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { newId } from '#shared/ids.ts';
import { cliArgs, fail } from './cli-args.ts';
import { readState } from './state.ts';

const usage = "usage: npm run -s emit -- <event-type> --workspace <id> [--data '<json>'] [--id <event id>]";
const { values, positionals } = cliArgs(
  { workspace: { type: 'string' }, data: { type: 'string', default: '{}' }, id: { type: 'string' } },
  usage,
);
const type = positionals[0];
if (!type || !values.workspace) fail(usage);
let data: unknown;
try {
  data = JSON.parse(values.data as string);
} catch {
  fail(`--data is not valid JSON\n${usage}`);
}

try {
  const state = readState();
  const event = {
    id: (values.id as string | undefined) ?? newId('evt'),
    type,
    workspace_id: values.workspace,
    occurred_at: new Date().toISOString(),
    data,
  };
  const sqs = new SQSClient({
    endpoint: state.sqsEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const queueUrl = state.queueUrls.ingest;
  if (!queueUrl) fail('The running stack has no ingest queue.');
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(event) }));
  process.stdout.write(`${event.id}\n`);
} catch (err) {
  fail((err as Error).message);
}
