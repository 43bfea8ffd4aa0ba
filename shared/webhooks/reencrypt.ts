/**
 * Re-encryption of webhook signing secrets after a data-key rotation: the webhooks feature's
 * target for the platform's re-encrypt job (`shared/reencrypt.ts`). An endpoint holds up to two
 * sealed values, `secret_sealed` and, during a rotation, `previous_secret_sealed`; both are
 * re-sealed with the same secret (the endpoint id stays the AAD), and a previous secret whose
 * overlap has ended is removed instead, since nothing signs with it any more.
 */
import { GetCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { decrypt, encrypt, sealedKeyId } from '#shared/crypto.ts';
import { db, tableName } from '#shared/db/client.ts';
import { isConditionFailed } from '#shared/db/conditions.ts';
import { keys } from '#shared/db/keys.ts';
import {
  type ReencryptStats,
  type ReencryptTarget,
  type ResealResult,
  runReencryptJob,
} from '#shared/reencrypt.ts';
import type { EndpointItem } from './endpoints.ts';

/** Re-seal attempts of one endpoint whose secrets changed meanwhile (a rotation). */
const RESEAL_ATTEMPTS = 3;

const sealedPrefix = (kid: string) => `v1.${kid}.`;

/** Endpoints holding a secret sealed with another key than `kid` (W8: consistent paged scan, maintenance only). */
export async function endpointsSealedWithOtherKey(
  kid: string,
  start: Record<string, unknown> | undefined,
): Promise<{ items: EndpointItem[]; next: Record<string, unknown> | undefined }> {
  const out = await db().send(
    new ScanCommand({
      TableName: tableName(),
      FilterExpression:
        'entity = :e AND (NOT begins_with(secret_sealed, :p) OR (attribute_exists(previous_secret_sealed) AND NOT begins_with(previous_secret_sealed, :p)))',
      ExpressionAttributeValues: { ':e': 'WebhookEndpoint', ':p': sealedPrefix(kid) },
      ExclusiveStartKey: start,
      ConsistentRead: true,
      Limit: 200,
    }),
  );
  return { items: (out.Items ?? []) as EndpointItem[], next: out.LastEvaluatedKey };
}

const underKid = (sealed: string | undefined, kid: string) => !sealed || sealedKeyId(sealed) === kid;

/** Whether the endpoint still holds a value the job must move (or, for an ended overlap, drop). */
function needsWork(item: EndpointItem, kid: string): boolean {
  return !underKid(item.secret_sealed, kid) || !underKid(item.previous_secret_sealed, kid);
}

/**
 * Re-seals one endpoint's secrets under the current key, conditional on both sealed values being
 * what was read (a rotation meanwhile makes it re-read and try again). A previous secret past its
 * overlap is removed rather than re-sealed.
 */
async function resealEndpoint(first: EndpointItem, kid: string, now: () => Date): Promise<ResealResult> {
  let item = first;
  for (let attempt = 0; attempt < RESEAL_ATTEMPTS; attempt++) {
    const sets: string[] = [];
    const removes: string[] = [];
    const values: Record<string, unknown> = { ':s': item.secret_sealed };
    if (!underKid(item.secret_sealed, kid)) {
      sets.push('secret_sealed = :ns');
      values[':ns'] = await encrypt(await decrypt(item.secret_sealed, item.id), item.id);
    }
    let condition = 'secret_sealed = :s';
    if (item.previous_secret_sealed) {
      condition += ' AND previous_secret_sealed = :p';
      values[':p'] = item.previous_secret_sealed;
      const overlapEnded =
        !item.previous_secret_expires_at || Date.parse(item.previous_secret_expires_at) <= now().getTime();
      if (overlapEnded) removes.push('previous_secret_sealed', 'previous_secret_expires_at');
      else if (!underKid(item.previous_secret_sealed, kid)) {
        sets.push('previous_secret_sealed = :np');
        values[':np'] = await encrypt(await decrypt(item.previous_secret_sealed, item.id), item.id);
      }
    } else condition += ' AND attribute_not_exists(previous_secret_sealed)';
    if (!sets.length && !removes.length) return 'current';
    try {
      await db().send(
        new UpdateCommand({
          TableName: tableName(),
          Key: keys.webhookEndpoint(item.workspace_id, item.id),
          UpdateExpression: [
            sets.length ? `SET ${sets.join(', ')}` : '',
            removes.length ? `REMOVE ${removes.join(', ')}` : '',
          ]
            .filter(Boolean)
            .join(' '),
          ConditionExpression: condition,
          ExpressionAttributeValues: values,
        }),
      );
      return 'resealed';
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
    }
    const { Item } = await db().send(
      new GetCommand({
        TableName: tableName(),
        Key: keys.webhookEndpoint(item.workspace_id, item.id),
        ConsistentRead: true,
      }),
    );
    // Deleted, or rotated with the current key meanwhile: nothing left to do.
    if (!Item || !needsWork(Item as EndpointItem, kid)) return 'current';
    item = Item as EndpointItem;
  }
  return 'skipped';
}

/** The webhooks feature's target for the platform's re-encrypt job. */
export function webhookSecretsTarget(now: () => Date = () => new Date()): ReencryptTarget<EndpointItem> {
  return {
    name: 'webhook signing secrets',
    state: { key: keys.webhookReencryptJob(), entity: 'WebhookReencryptJob' },
    findPage: endpointsSealedWithOtherKey,
    reseal: (item, kid) => resealEndpoint(item, kid, now),
    describe: (item) => ({ endpoint_id: item.id, workspace_id: item.workspace_id }),
  };
}

/**
 * The re-encrypt job of webhook signing secrets (progress in `WEBHOOKJOB#REENCRYPT`, W9): `done`
 * once a pass started after the settle time found no endpoint with a secret under another key.
 */
export function reencryptWebhookSecrets(
  opts: { shouldStop?: () => boolean; now?: () => Date } = {},
): Promise<ReencryptStats> {
  return runReencryptJob(webhookSecretsTarget(opts.now), opts);
}
