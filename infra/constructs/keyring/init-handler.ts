/**
 * CloudFormation custom resource that puts a data-key keyring into the keys secret, in the format
 * shared/crypto.ts reads: `{ "current": "<kid>", "keys": { "<kid>": "<base64 of 32 bytes>" } }`.
 * Secrets Manager can only generate flat strings, hence this step.
 *
 * It never replaces a valid keyring: on every create/update it leaves a secret that already holds
 * one untouched (keys are rotated by adding to the keyring, see shared/crypto.ts), and on delete
 * it does nothing (the secret is retained).
 */

import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import * as v from 'valibot';
import { keyringSchema, newKeyring, newPseudonymKey } from '#shared/crypto.ts';

let client: SecretsManagerClient | undefined;
function sm(): SecretsManagerClient {
  client ??= new SecretsManagerClient({});
  return client;
}

/** True when `raw` is a keyring whose current key exists and is 32 bytes. */
export function isValidKeyring(raw: string | undefined): boolean {
  if (!raw) return false;
  try {
    const ring = v.parse(keyringSchema, JSON.parse(raw));
    const current = ring.keys[ring.current];
    return current !== undefined && Buffer.from(current, 'base64').length === 32;
  } catch {
    return false;
  }
}

/**
 * Writes a fresh keyring unless the secret already holds a valid one (to which it adds a
 * pseudonym key when it has none); returns what it did.
 */
export async function ensureKeyring(secretId: string): Promise<'kept' | 'created' | 'completed'> {
  const current = await sm().send(new GetSecretValueCommand({ SecretId: secretId }));
  if (isValidKeyring(current.SecretString)) {
    const ring = v.parse(keyringSchema, JSON.parse(current.SecretString as string));
    if (ring.pseudonym_key) return 'kept';
    await sm().send(
      new PutSecretValueCommand({
        SecretId: secretId,
        SecretString: JSON.stringify({ ...ring, pseudonym_key: newPseudonymKey() }),
      }),
    );
    return 'completed';
  }
  await sm().send(
    new PutSecretValueCommand({ SecretId: secretId, SecretString: JSON.stringify(newKeyring()) }),
  );
  return 'created';
}

/** Answers CloudFormation through the pre-signed response URL (the cfn-response protocol). */
async function respond(
  event: CloudFormationCustomResourceEvent,
  status: 'SUCCESS' | 'FAILED',
  physicalResourceId: string,
  reason: string,
): Promise<void> {
  const body = JSON.stringify({
    Status: status,
    Reason: reason.slice(0, 3000),
    PhysicalResourceId: physicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    NoEcho: true,
  });
  const res = await fetch(event.ResponseURL, {
    method: 'PUT',
    // The pre-signed URL is signed without a content type.
    headers: { 'content-type': '' },
    body,
  });
  if (!res.ok) throw new Error(`CloudFormation response failed: HTTP ${res.status}`);
}

export async function handler(event: CloudFormationCustomResourceEvent, context: Context): Promise<void> {
  const secretId = String(event.ResourceProperties.SecretId ?? '');
  const physicalResourceId =
    event.RequestType === 'Create' ? `keyring:${secretId}` : event.PhysicalResourceId;
  try {
    if (!secretId) throw new Error('SecretId is required');
    const outcome = event.RequestType === 'Delete' ? 'nothing to do' : await ensureKeyring(secretId);
    console.log(JSON.stringify({ message: 'keyring', requestType: event.RequestType, outcome }));
    await respond(event, 'SUCCESS', physicalResourceId, String(outcome));
  } catch (err) {
    console.error(JSON.stringify({ message: 'keyring failed', error: String(err) }));
    await respond(
      event,
      'FAILED',
      physicalResourceId,
      `${String(err)} (log stream ${context.logStreamName})`,
    );
  }
}
