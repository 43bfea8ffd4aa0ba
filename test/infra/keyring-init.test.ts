/**
 * The deploy-time keyring initializer: writes a keyring shared/crypto.ts can use, never replaces a
 * valid one, and always answers CloudFormation (a missing answer hangs the stack for an hour).
 */

import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import * as v from 'valibot';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { handler, isValidKeyring } from '#infra/constructs/keyring/init-handler.ts';
import { keyringSchema, newKeyring } from '#shared/crypto.ts';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:pronaflow-integrations/keys-AbCdEf';
const sm = mockClient(SecretsManagerClient);
const context = { logStreamName: '2026/01/01/[$LATEST]abc' } as Context;

function event(
  requestType: 'Create' | 'Update' | 'Delete',
  props: Record<string, unknown> = { SecretId: SECRET_ARN },
) {
  return {
    RequestType: requestType,
    ServiceToken: 'arn:aws:lambda:eu-west-1:111122223333:function:init',
    ResponseURL: 'https://cloudformation-custom-resource-response.example/presigned',
    StackId: 'arn:aws:cloudformation:eu-west-1:111122223333:stack/PronaFlowIntegrations/1',
    RequestId: 'req-1',
    LogicalResourceId: 'KeyringInitKeyring',
    ResourceType: 'Custom::DataKeyring',
    ResourceProperties: { ServiceToken: 'x', ...props },
    ...(requestType === 'Create' ? {} : { PhysicalResourceId: `keyring:${SECRET_ARN}` }),
  } as unknown as CloudFormationCustomResourceEvent;
}

let responses: { url: string; init: RequestInit; body: Record<string, unknown> }[];

beforeEach(() => {
  sm.reset();
  responses = [];
  vi.spyOn(console, 'log').mockImplementation(() => {});
  vi.spyOn(console, 'error').mockImplementation(() => {});
  vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
    responses.push({ url, init, body: JSON.parse(String(init.body)) });
    return new Response(null, { status: 200 });
  });
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe('keyring initializer', () => {
  it('replaces the generated placeholder with a keyring shared/crypto.ts accepts', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'generated-placeholder' });
    sm.on(PutSecretValueCommand).resolves({});
    await handler(event('Create'), context);

    const put = sm.commandCalls(PutSecretValueCommand);
    expect(put).toHaveLength(1);
    expect(put[0]!.args[0].input.SecretId).toBe(SECRET_ARN);
    const written = put[0]!.args[0].input.SecretString!;
    const ring = v.parse(keyringSchema, JSON.parse(written));
    expect(Buffer.from(ring.keys[ring.current]!, 'base64')).toHaveLength(32);
    expect(isValidKeyring(written)).toBe(true);

    expect(responses).toHaveLength(1);
    expect(responses[0]!.init.method).toBe('PUT');
    expect(responses[0]!.body).toMatchObject({
      Status: 'SUCCESS',
      PhysicalResourceId: `keyring:${SECRET_ARN}`,
      RequestId: 'req-1',
      LogicalResourceId: 'KeyringInitKeyring',
      NoEcho: true,
    });
    // The key never leaves through the response or the logs.
    expect(JSON.stringify(responses)).not.toContain(ring.keys[ring.current]);
  });

  it('keeps an existing keyring on update (keys are never replaced)', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(newKeyring('k1')) });
    await handler(event('Update'), context);
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(0);
    expect(responses[0]!.body).toMatchObject({ Status: 'SUCCESS', Reason: 'kept' });
  });

  it('adds a pseudonym key to a keyring that has none, keeping its data keys', async () => {
    const { pseudonym_key: _none, ...old } = newKeyring('k1');
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(old) });
    await handler(event('Update'), context);
    const put = sm.commandCalls(PutSecretValueCommand);
    expect(put).toHaveLength(1);
    const written = JSON.parse(put[0]!.args[0].input.SecretString as string);
    expect(written.keys).toEqual(old.keys);
    expect(Buffer.from(written.pseudonym_key, 'base64')).toHaveLength(32);
    expect(responses[0]!.body).toMatchObject({ Status: 'SUCCESS', Reason: 'completed' });
    expect(JSON.stringify(responses)).not.toContain(written.pseudonym_key);
  });

  it('does nothing on delete (the secret is retained)', async () => {
    await handler(event('Delete'), context);
    expect(sm.calls()).toHaveLength(0);
    expect(responses[0]!.body).toMatchObject({
      Status: 'SUCCESS',
      PhysicalResourceId: `keyring:${SECRET_ARN}`,
    });
  });

  it('answers FAILED instead of hanging when Secrets Manager fails', async () => {
    sm.on(GetSecretValueCommand).rejects(new Error('AccessDeniedException'));
    await handler(event('Create'), context);
    expect(responses[0]!.body).toMatchObject({ Status: 'FAILED' });
    expect(String(responses[0]!.body.Reason)).toContain('AccessDeniedException');
  });

  it('rejects keyrings whose current key is missing or not 32 bytes', () => {
    expect(isValidKeyring(undefined)).toBe(false);
    expect(isValidKeyring('not json')).toBe(false);
    expect(isValidKeyring(JSON.stringify({ current: 'k1', keys: {} }))).toBe(false);
    expect(
      isValidKeyring(JSON.stringify({ current: 'k1', keys: { k1: Buffer.alloc(16).toString('base64') } })),
    ).toBe(false);
    expect(isValidKeyring(JSON.stringify(newKeyring('k2')))).toBe(true);
  });
});
