/**
 * `npm start`: the whole service on this machine (see infra/local/stack.ts).
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { config } from '#shared/config.ts';
import { startLocalStack } from './stack.ts';
import { LOCAL_DIR, readState, STATE_FILE, writeState } from './state.ts';

const port = Number(process.env.PORT ?? 3000);
if (existsSync(STATE_FILE)) {
  try {
    const { pid, baseUrl } = readState();
    console.error(`A local stack is already running here (pid ${pid}, ${baseUrl}); stop it first.`);
    process.exit(1);
  } catch {
    // The state file is left over from a stack that is gone: start afresh.
  }
}
let stack: Awaited<ReturnType<typeof startLocalStack>>;
try {
  stack = await startLocalStack({ port, dir: LOCAL_DIR });
} catch (err) {
  console.error(`Could not start the local stack: ${(err as Error).message}`);
  process.exit(1);
}
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
  DynamoDB Local ${stack.dynamoEndpoint} (data in ${join(LOCAL_DIR, 'dynamodb')})
  SQS emulator   ${stack.sqs.endpoint} (messages in ${join(LOCAL_DIR, 'sqs')})
  Targets        ${
    cfg.ALLOW_LOOPBACK_TARGETS
      ? 'loopback and http allowed (ALLOW_LOOPBACK_TARGETS=false to try the SSRF guard)'
      : 'public https only, as in AWS (ALLOW_LOOPBACK_TARGETS=false)'
  }

Next steps (in another terminal):
  TOKEN=$(npm run -s dev:token -- --user u1 --workspace ws1 --role admin)
  curl -s ${api}/status -H "Authorization: Bearer $TOKEN"
  npm run -s emit -- task.created --workspace ws1 --data '{"task_id":"t1"}'

Ctrl-C stops everything.`);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) {
    // A second Ctrl-C: stop now (the exit hook still takes DynamoDB Local down).
    rmSync(STATE_FILE, { force: true });
    process.exit(130);
  }
  stopping = true;
  console.log(`\n${signal}: stopping… (Ctrl-C again to force)`);
  const timer = setTimeout(() => {
    console.error('Stopping took more than 10 s; forcing.');
    rmSync(STATE_FILE, { force: true });
    process.exit(1);
  }, 10_000);
  await stack.stop();
  clearTimeout(timer);
  rmSync(STATE_FILE, { force: true });
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
