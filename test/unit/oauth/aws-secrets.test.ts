import { mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { clientCredentials } from '#shared/oauth/credentials.ts';
import { AwsSecretSource, FileSecretSource, setSecretSource } from '#shared/secrets.ts';
import { setEnv } from '#test/helpers/env.ts';

const sm = mockClient(SecretsManagerClient);

beforeEach(() => {
  sm.reset();
  setEnv({ SECRETS_PREFIX: 'pf/' });
});

describe('AwsSecretSource (Secrets Manager through Powertools)', () => {
  it('reads a secret string by name', async () => {
    sm.on(GetSecretValueCommand, { SecretId: 'pf/oauth/github' }).resolves({
      SecretString: '{"client_id":"id","client_secret":"s"}',
    });
    const source = new AwsSecretSource(new SecretsManagerClient({ region: 'us-east-1' }));
    expect(await source.get('pf/oauth/github')).toBe('{"client_id":"id","client_secret":"s"}');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('answers undefined for a secret that does not exist', async () => {
    sm.on(GetSecretValueCommand).rejects(
      new ResourceNotFoundException({
        message: 'Secrets Manager can’t find the specified secret.',
        $metadata: {},
      }),
    );
    const source = new AwsSecretSource(new SecretsManagerClient({ region: 'us-east-1' }));
    expect(await source.get('pf/oauth/nope')).toBeUndefined();
  });

  it('rethrows other failures', async () => {
    sm.on(GetSecretValueCommand).rejects(new Error('AccessDeniedException'));
    const source = new AwsSecretSource(new SecretsManagerClient({ region: 'us-east-1' }));
    await expect(source.get('pf/oauth/github')).rejects.toThrow();
  });

  it('caches a value: two reads make one Secrets Manager call', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'v1' });
    const source = new AwsSecretSource(new SecretsManagerClient({ region: 'us-east-1' }));
    expect(await source.get('pf/keys')).toBe('v1');
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'v2' });
    expect(await source.get('pf/keys')).toBe('v1');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('reads Secrets Manager again with { fresh: true } and keeps the new value in the cache', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'v1' });
    const source = new AwsSecretSource(new SecretsManagerClient({ region: 'us-east-1' }));
    expect(await source.get('pf/keys')).toBe('v1');
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'v2' });
    expect(await source.get('pf/keys', { fresh: true })).toBe('v2');
    expect(await source.get('pf/keys')).toBe('v2');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });
});

describe('FileSecretSource', () => {
  it('re-reads the file with { fresh: true } even when its modification time did not change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
    const file = join(dir, 'secrets.json');
    writeFileSync(file, JSON.stringify({ a: '1' }));
    utimesSync(file, 1_000_000, 1_000_000);
    const source = new FileSecretSource(file);
    expect(await source.get('a')).toBe('1');
    writeFileSync(file, JSON.stringify({ a: '2' }));
    utimesSync(file, 1_000_000, 1_000_000); // same mtime: a plain read keeps the cached copy
    expect(await source.get('a')).toBe('1');
    expect(await source.get('a', { fresh: true })).toBe('2');
  });
});

describe('clientCredentials', () => {
  it('reads oauth/<app> under SECRETS_PREFIX from Secrets Manager', async () => {
    sm.on(GetSecretValueCommand, { SecretId: 'pf/oauth/slack' }).resolves({
      SecretString: JSON.stringify({ client_id: 'cid', client_secret: 'csecret' }),
    });
    setSecretSource(new AwsSecretSource(new SecretsManagerClient({ region: 'us-east-1' })));
    expect(await clientCredentials('slack')).toEqual({ client_id: 'cid', client_secret: 'csecret' });
  });

  it('answers 503 naming the app, never the value, when the secret is missing or malformed', async () => {
    sm.on(GetSecretValueCommand, { SecretId: 'pf/oauth/google' }).resolves({
      SecretString: '{"client_id":"only"}',
    });
    sm.on(GetSecretValueCommand, { SecretId: 'pf/oauth/none' }).rejects(
      new ResourceNotFoundException({ message: 'not found', $metadata: {} }),
    );
    setSecretSource(new AwsSecretSource(new SecretsManagerClient({ region: 'us-east-1' })));
    await expect(clientCredentials('google')).rejects.toMatchObject({ status: 503 });
    await expect(clientCredentials('none')).rejects.toMatchObject({
      status: 503,
      message: expect.stringContaining("'none'"),
    });
  });
});
