/** Background work of consents: marking expired consents, recording policy version changes. */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { writeAudited } from '#shared/audit/log.ts';
import { config } from '#shared/config.ts';
import { db, tableName } from '#shared/db/client.ts';
import { conditionFailedAt } from '#shared/db/conditions.ts';
import { queryAll } from '#shared/db/query.ts';
import { logger } from '#shared/logger.ts';
import { consentKeys } from './keys.ts';
import { type ConsentItem, expireConsent } from './service.ts';

/** How far back the expiry sweep looks (hour buckets): a sweep missed for longer is caught by reads, which compute EXPIRED. */
export const EXPIRY_LOOKBACK_HOURS = 7 * 24;

/**
 * Marks EXPIRED (with its audit entry) every GRANTED consent whose end date has passed, reading
 * the hour buckets of the expiry index (C5) from EXPIRY_LOOKBACK_HOURS ago to now. Reads already
 * show such consents as EXPIRED; this records the expiry in the trail. Idempotent.
 */
export async function sweepExpiredConsents(opts: { now?: Date; shouldStop?: () => boolean } = {}) {
  const now = opts.now ?? new Date();
  let expired = 0;
  let read = 0;
  const buckets = Array.from({ length: EXPIRY_LOOKBACK_HOURS + 1 }, (_, h) =>
    consentKeys.expiryBucket(new Date(now.getTime() - (EXPIRY_LOOKBACK_HOURS - h) * 3_600_000)),
  );
  // Hour buckets are read 12 at a time, oldest first; most are empty.
  for (let i = 0; i < buckets.length && !opts.shouldStop?.(); i += 12) {
    const due = await Promise.all(
      buckets.slice(i, i + 12).map(async (bucket) => {
        const items: Record<string, unknown>[] = [];
        for await (const item of queryAll({
          IndexName: 'gsi1',
          KeyConditionExpression: 'gsi1pk = :b AND gsi1sk <= :now',
          ExpressionAttributeValues: { ':b': bucket, ':now': `${now.toISOString()}#~` },
        })) {
          items.push(item);
        }
        return items;
      }),
    );
    for (const item of due.flat()) {
      read++;
      // The index may lag: the record is read again, consistently, before it is changed.
      const fresh = await db().send(
        new GetCommand({ TableName: tableName(), Key: { pk: item.pk, sk: item.sk }, ConsistentRead: true }),
      );
      if (fresh.Item && (await expireConsent(fresh.Item as ConsentItem, now))) expired++;
    }
  }
  if (expired) logger.info('consents expired', { expired, read });
  return { expired, read };
}

/** The `_service` workspace and subject hold the trail of service-wide governance changes. */
export const SERVICE_TRAIL = { workspaceId: '_service', subject: 'system:consent-policy' };

/**
 * Records a change of CONSENT_POLICY_VERSION (run after each deployment): an audit entry in the
 * service's trail, and the version last seen. Consents given under an older version read as
 * OUTDATED from then on. Idempotent: no change, no entry.
 */
export async function recordPolicyVersion(now = new Date()): Promise<{ changed: boolean; version: number }> {
  const version = config().CONSENT_POLICY_VERSION;
  const key = consentKeys.policy();
  const current = (
    await db().send(new GetCommand({ TableName: tableName(), Key: key, ConsistentRead: true }))
  ).Item as { version: number } | undefined;
  if (current?.version === version) return { changed: false, version };
  try {
    await writeAudited(
      [
        {
          workspaceId: SERVICE_TRAIL.workspaceId,
          subjectUserId: SERVICE_TRAIL.subject,
          action: 'consent.policy_changed',
          actor: { system: 'deployment' },
          target: { type: 'consent_policy', id: 'privacy' },
          before: current ? { version: current.version } : null,
          after: { version },
          policyVersion: version,
          method: 'system',
          at: now.toISOString(),
        },
      ],
      () => [
        {
          Put: {
            TableName: tableName(),
            Item: { ...key, entity: 'ConsentPolicy', version, changed_at: now.toISOString() },
            ...(current
              ? { ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': current.version } }
              : { ConditionExpression: 'attribute_not_exists(pk)' }),
          },
        },
      ],
    );
  } catch (err) {
    if (conditionFailedAt(err, 0)) return { changed: false, version }; // recorded by a concurrent run
    throw err;
  }
  logger.info('consent policy version recorded', { from: current?.version ?? null, to: version });
  return { changed: true, version };
}
