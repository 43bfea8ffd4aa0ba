import { GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { db, tableName } from '#shared/db/client.ts';
import { sendJson } from '#shared/queues.ts';
import { MissingGrantError, runWithGrants } from '#shared/runtime-grants.ts';
import { secrets } from '#shared/secrets.ts';
import { useTestSqs, useTestTable } from '#test/helpers/env.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';

useTestTable();
useTestSqs();

const key = { pk: 'GRANTS#test', sk: 'ITEM' };

describe('runtime grants (IAM as the local runtime enforces it)', () => {
  it('lets a function use the table as its grants allow, and only so', async () => {
    const put = () => db().send(new PutCommand({ TableName: tableName(), Item: { ...key, entity: 'Test' } }));
    const get = () => db().send(new GetCommand({ TableName: tableName(), Key: key }));
    await expect(runWithGrants(['table:read'], put)).rejects.toThrow(MissingGrantError);
    await runWithGrants(['table:write'], put);
    await expect(runWithGrants(['table:write'], get)).rejects.toThrow(/table:read/);
    expect((await runWithGrants(['table:read'], get)).Item).toMatchObject(key);
    const scan = () => db().send(new ScanCommand({ TableName: tableName(), Limit: 1 }));
    await expect(runWithGrants(['table:read', 'table:write'], scan)).rejects.toThrow(/table:scan/);
  });

  it('lets a function send only to the queues it is granted', async () => {
    await expect(runWithGrants(['queue:usage:send'], () => sendJson('SYNC_QUEUE_URL', {}))).rejects.toThrow(
      /queue:sync:send/,
    );
    await runWithGrants(['queue:sync:send'], () => sendJson('SYNC_QUEUE_URL', { ok: true }));
  });

  it('lets a function read only the secrets it is granted', async () => {
    useMemorySecrets({ 'oauth/github': '{}' });
    await expect(runWithGrants(['secrets:keys:read'], () => secrets().get('oauth/github'))).rejects.toThrow(
      /secrets:oauth:read/,
    );
    await expect(runWithGrants(['secrets:oauth:read'], () => secrets().get('keys'))).rejects.toThrow(
      /secrets:keys:read/,
    );
    expect(await runWithGrants(['secrets:oauth:read'], () => secrets().get('oauth/github'))).toBe('{}');
  });

  it('checks nothing outside a grants scope (handlers called directly in unit tests)', async () => {
    await db().send(new GetCommand({ TableName: tableName(), Key: key }));
  });
});
