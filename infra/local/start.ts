/**
 * `npm start`: the whole service on this machine (see infra/local/stack.ts).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { config } from '#shared/config.ts';
import { startLocalStack } from './stack.ts';
import { LOCAL_DIR, STATE_FILE, writeState } from './state.ts';

const port = Number(process.env.PORT ?? 3000);
const stack = await startLocalStack({ port, dir: LOCAL_DIR });
const cfg = config();
writeState({
  pid: process.pid,
  baseUrl: stack.baseUrl,
  sqsEndpoint: stack.sqs.endpoint,
  queueUrls: stack.sqs.urls,
  keysFile: join(LOCAL_DIR, 'session-keys.json'),
  secretsFile: join(LOCAL_DIR, 'secrets.json'),
  issuer: cfg.AUTH_JWT_ISSUER,
  audience: cfg.AUTH_JWT_AUDIENCE,
});

const api = `${stack.baseUrl}/v1/integration`;
console.log(`
PronaFlow Integrations is running locally.

  API            ${api}
  Health         ${api}/health
  OpenAPI        ${api}/openapi.json
  DynamoDB Local ${stack.dynamoEndpoint} (data in .local/dynamodb)
  SQS emulator   ${stack.sqs.endpoint}

Next steps (in another terminal):
  TOKEN=$(npm run -s dev:token -- --user u1 --workspace ws1 --role admin)
  curl -s ${api}/status -H "Authorization: Bearer $TOKEN"
  npm run -s emit -- task.created --workspace ws1 --data '{"task_id":"t1"}'

Ctrl-C stops everything.`);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping…`);
  await stack.stop();
  rmSync(STATE_FILE, { force: true });
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
