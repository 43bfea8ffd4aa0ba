import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { ensureTable } from '#infra/local/dynamo.ts';
import { type LocalSqs, startSqs } from '#infra/local/sqs.ts';
import { resetConfig } from '#shared/config.ts';
import { resetDb } from '#shared/db/client.ts';
import { resetSqs } from '#shared/queues.ts';

/** Sets environment variables and forgets cached config and clients, so the next use sees them. */
export function setEnv(vars: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  resetConfig();
  resetDb();
  resetSqs();
}

/** Gives the calling test file its own fresh table in the run's DynamoDB Local. */
export function useTestTable(): { name: string } {
  const ref = { name: `t-${randomBytes(6).toString('hex')}` };
  beforeAll(async () => {
    setEnv({ TABLE_NAME: ref.name });
    await ensureTable(process.env.DYNAMODB_ENDPOINT as string, ref.name);
  });
  return ref;
}

/** Starts an SQS emulator with the stack's queues for the calling test file. */
export function useTestSqs(): { current: LocalSqs } {
  const ref = {} as { current: LocalSqs };
  beforeAll(async () => {
    ref.current = await startSqs({ prefix: `t${randomBytes(3).toString('hex')}` });
    setEnv({ SQS_ENDPOINT: ref.current.endpoint, ...ref.current.env });
  });
  afterAll(async () => {
    await ref.current?.stop();
  });
  return ref;
}
