import { GetCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { config } from '#shared/config.ts';
import { addServiceCounters, counterTransactItems } from '#shared/counters.ts';
import { decrypt, encrypt } from '#shared/crypto.ts';
import { db, tableName } from '#shared/db/client.ts';
import { conditionFailedAt, isConditionFailed } from '#shared/db/conditions.ts';
import { keys } from '#shared/db/keys.ts';
import { type Page, type PageQuery, queryPage } from '#shared/db/pagination.ts';
import { queryAll } from '#shared/db/query.ts';
import { updateExpression } from '#shared/db/update.ts';
import { ConflictError, NotFoundError, ValidationError } from '#shared/errors.ts';
import { newId } from '#shared/ids.ts';
import { resolveTarget, UnsafeTargetError } from '#shared/net/url-guard.ts';
import { type CountedState, endpointCount, syncEndpointCount } from './counters.ts';
import { UNWRITTEN_NOTE_INTERVAL_MS } from './lifecycle.ts';
import type { RetryPolicy } from './retry.ts';
import type { CreateWebhookInput, UpdateWebhookInput, WebhookView } from './schemas.ts';
import { generateSecret } from './signing.ts';

/** Endpoints per workspace; keeps the fan-out query (W1) small and bounded. */
export const MAX_ENDPOINTS_PER_WORKSPACE = 50;
/** How long a rotated-out secret keeps signing alongside the new one. */
export const ROTATION_OVERLAP_MS = 24 * 3600 * 1000;
/** How many of the latest deliveries the success rate in GET counts. */
export const STATS_WINDOW = 50;

export type DeliveryStatus = 'PENDING' | 'DELIVERED' | 'FAILED' | 'EXPIRED';

/** The stored WebhookEndpoint item. */
export interface EndpointItem {
  pk: string;
  sk: string;
  entity: 'WebhookEndpoint';
  id: string;
  workspace_id: string;
  name: string;
  url: string;
  description?: string;
  event_types: string[];
  retry_policy: RetryPolicy;
  active: boolean;
  /** The state the endpoint is counted in by the status view (./counters.ts); absent: from before the counters. */
  counted?: CountedState;
  disabled_reason?: string;
  disabled_at?: string;
  secret_sealed: string;
  previous_secret_sealed?: string;
  previous_secret_expires_at?: string;
  consecutive_failures: number;
  last_delivery_at?: string;
  /**
   * When a fan-out last sent this endpoint jobs of deliveries it did not write (at most
   * {@link UNWRITTEN_NOTE_INTERVAL_MS} behind the latest): how long a workspace deletion waits
   * for their records (shared/webhooks/lifecycle.ts).
   */
  unwritten_sent_at?: string;
  /** Set by a workspace deletion's mark (with `active` false): the endpoint is on its way out. */
  removing?: boolean;
  /** When the mark switched it off (the sweep's wait counts from it). */
  removing_at?: string;
  last_delivery_status?: DeliveryStatus;
  created_by: string;
  created_at: string;
  updated_at: string;
}

function targetPolicy() {
  return { allowLoopback: config().ALLOW_LOOPBACK_TARGETS };
}

/** Validates a URL for registration; a refused URL is a 400 on `body.url`. */
async function checkUrl(url: string): Promise<void> {
  try {
    await resolveTarget(url, targetPolicy());
  } catch (err) {
    if (err instanceof UnsafeTargetError) {
      throw new ValidationError('The webhook URL is not allowed.', [
        { path: 'body.url', message: err.message },
      ]);
    }
    throw err;
  }
}

const subscribed = (events: Record<string, boolean>) =>
  Object.entries(events)
    .filter(([, on]) => on)
    .map(([t]) => t)
    .sort();

/** The API view of an endpoint (never any secret). */
export function toView(
  item: EndpointItem,
  recent?: WebhookView['stats']['recent'],
  now = new Date(),
): WebhookView {
  const rotating =
    item.previous_secret_expires_at && Date.parse(item.previous_secret_expires_at) > now.getTime();
  return {
    id: item.id,
    name: item.name,
    url: item.url,
    description: item.description ?? null,
    events: Object.fromEntries(item.event_types.map((t) => [t, true as const])),
    retry_policy: item.retry_policy,
    active: item.active,
    disabled_reason: item.disabled_reason ?? null,
    disabled_at: item.disabled_at ?? null,
    previous_secret_expires_at: rotating ? (item.previous_secret_expires_at as string) : null,
    created_at: item.created_at,
    updated_at: item.updated_at,
    stats: {
      last_delivery_at: item.last_delivery_at ?? null,
      last_delivery_status: item.last_delivery_status ?? null,
      consecutive_failures: item.consecutive_failures ?? 0,
      ...(recent ? { recent } : {}),
    },
  };
}

/**
 * Registers an endpoint: checks the URL (shape and every resolved address), seals the secret
 * (given or generated) with the endpoint id as AAD, and writes the endpoint together with the
 * workspace's endpoint count in one transaction (the cap is atomic). Returns the view and the
 * plaintext secret, shown this once.
 */
export async function createEndpoint(
  workspaceId: string,
  userId: string,
  input: CreateWebhookInput,
  now = new Date(),
): Promise<{ view: WebhookView; secret: string }> {
  await checkUrl(input.url);
  const id = newId('wh', now.getTime());
  const secret = generateSecret();
  const at = now.toISOString();
  const counted = [endpointCount('active', 1)];
  const item: EndpointItem = {
    ...keys.webhookEndpoint(workspaceId, id),
    entity: 'WebhookEndpoint',
    id,
    workspace_id: workspaceId,
    name: input.name,
    url: input.url,
    description: input.description,
    event_types: subscribed(input.events),
    retry_policy: input.retry_policy,
    active: true,
    counted: 'active',
    secret_sealed: await encrypt(secret, id),
    consecutive_failures: 0,
    created_by: userId,
    created_at: at,
    updated_at: at,
  };
  try {
    await db().send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: tableName(), Item: item, ConditionExpression: 'attribute_not_exists(pk)' } },
          {
            Update: {
              TableName: tableName(),
              Key: keys.webhookCount(workspaceId),
              UpdateExpression: 'SET entity = :e ADD #n :one',
              ConditionExpression: 'attribute_not_exists(#n) OR #n < :max',
              ExpressionAttributeNames: { '#n': 'count' },
              ExpressionAttributeValues: {
                ':e': 'WebhookCount',
                ':one': 1,
                ':max': MAX_ENDPOINTS_PER_WORKSPACE,
              },
            },
          },
          ...counterTransactItems(workspaceId, counted),
        ],
      }),
    );
  } catch (err) {
    if (conditionFailedAt(err, 1)) {
      throw new ConflictError(`A workspace has at most ${MAX_ENDPOINTS_PER_WORKSPACE} webhook endpoints.`);
    }
    throw err;
  }
  await addServiceCounters(counted);
  return { view: toView(item, undefined, now), secret };
}

/** One endpoint of the workspace, or undefined (another workspace's id finds nothing). */
export async function findEndpoint(workspaceId: string, id: string): Promise<EndpointItem | undefined> {
  const out = await db().send(
    new GetCommand({
      TableName: tableName(),
      Key: keys.webhookEndpoint(workspaceId, id),
      ConsistentRead: true,
    }),
  );
  return out.Item as EndpointItem | undefined;
}

/** One endpoint of the workspace; 404 when absent. */
export async function getEndpoint(workspaceId: string, id: string): Promise<EndpointItem> {
  const item = await findEndpoint(workspaceId, id);
  if (!item) throw new NotFoundError(`Webhook endpoint ${id} was not found.`);
  return item;
}

/** The endpoint with its recent delivery stats (success rate over the latest finished deliveries). */
export async function getEndpointView(
  workspaceId: string,
  id: string,
  now = new Date(),
): Promise<WebhookView> {
  const item = await getEndpoint(workspaceId, id);
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': `WEBHOOK#${id}` },
      ExpressionAttributeNames: { '#s': 'status' },
      ProjectionExpression: '#s',
      ScanIndexForward: false,
      Limit: STATS_WINDOW,
    }),
  );
  const statuses = (out.Items ?? []).map((i) => i.status as DeliveryStatus).filter((s) => s !== 'PENDING');
  const count = (s: DeliveryStatus) => statuses.filter((x) => x === s).length;
  const recent = {
    window: statuses.length,
    delivered: count('DELIVERED'),
    failed: count('FAILED'),
    expired: count('EXPIRED'),
    success_rate: statuses.length ? Math.round((count('DELIVERED') / statuses.length) * 1000) / 1000 : null,
  };
  return toView(item, recent, now);
}

/** A page of the workspace's endpoints, in creation order. */
export async function listEndpoints(workspaceId: string, page: PageQuery): Promise<Page<WebhookView>> {
  const pk = keys.workspace(workspaceId);
  const { items, next_cursor } = await queryPage(
    {
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': pk, ':p': keys.webhookEndpointPrefix },
    },
    {
      scope: { list: 'webhooks', key: { pk, sk: { prefix: keys.webhookEndpointPrefix } } },
      limit: page.limit,
      cursor: page.cursor,
    },
  );
  return { data: (items as unknown as EndpointItem[]).map((i) => toView(i)), next_cursor };
}

/**
 * The workspace's active endpoints (the fan-out's read, W1): one Query on the workspace's endpoint
 * items (at most {@link MAX_ENDPOINTS_PER_WORKSPACE}); the fan-out of a batch of events reads them
 * once per workspace and matches each event's type itself.
 */
export async function activeEndpoints(workspaceId: string): Promise<EndpointItem[]> {
  const found: EndpointItem[] = [];
  for await (const item of queryAll({
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
    FilterExpression: 'active = :on',
    ExpressionAttributeValues: {
      ':pk': keys.workspace(workspaceId),
      ':p': keys.webhookEndpointPrefix,
      ':on': true,
    },
  })) {
    found.push(item as unknown as EndpointItem);
  }
  return found;
}

const unwrittenNotedAt = new Map<string, number>();

/**
 * Notes on each endpoint that a fan-out is about to send it jobs of deliveries it did not write
 * (`unwritten_sent_at`), at most once per {@link UNWRITTEN_NOTE_INTERVAL_MS} per endpoint and
 * process, so the stored time is never more than that behind the latest such job. Resolves once
 * the notes due are written (before the jobs go out); a deleted endpoint is skipped.
 */
export async function noteUnwrittenJobs(endpoints: Pick<EndpointItem, 'workspace_id' | 'id'>[], at: Date) {
  // Throttled on the time written (the jobs' read time), so the stored one is never more than
  // the interval behind the latest job's.
  const now = at.getTime();
  const due = endpoints.filter((e) => {
    const last = unwrittenNotedAt.get(`${e.workspace_id}\n${e.id}`);
    return last === undefined || now - last >= UNWRITTEN_NOTE_INTERVAL_MS || now < last;
  });
  await Promise.all(
    due.map(async (e) => {
      try {
        await db().send(
          new UpdateCommand({
            TableName: tableName(),
            Key: keys.webhookEndpoint(e.workspace_id, e.id),
            UpdateExpression: 'SET unwritten_sent_at = :at',
            // Never moved back by a flush that was slower than a later one.
            ConditionExpression:
              'attribute_exists(pk) AND (attribute_not_exists(unwritten_sent_at) OR unwritten_sent_at < :at)',
            ExpressionAttributeValues: { ':at': at.toISOString() },
          }),
        );
      } catch (err) {
        if (!isConditionFailed(err)) throw err;
      }
      if (unwrittenNotedAt.size > 5000) unwrittenNotedAt.clear();
      unwrittenNotedAt.set(`${e.workspace_id}\n${e.id}`, now);
    }),
  );
}

/** Applies a PATCH; `active: true` re-enables and clears the failure streak and reason. */
export async function updateEndpoint(
  workspaceId: string,
  id: string,
  patch: UpdateWebhookInput,
  now = new Date(),
): Promise<WebhookView> {
  if (patch.url !== undefined) await checkUrl(patch.url);
  const set: Record<string, unknown> = { updated_at: now.toISOString() };
  const remove: string[] = [];
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.url !== undefined) set.url = patch.url;
  if (patch.events !== undefined) set.event_types = subscribed(patch.events);
  if (patch.retry_policy !== undefined) set.retry_policy = patch.retry_policy;
  if (patch.description !== undefined) {
    if (patch.description === null) remove.push('description');
    else set.description = patch.description;
  }
  if (patch.active === true) {
    set.active = true;
    set.consecutive_failures = 0;
    remove.push('disabled_reason', 'disabled_at');
  } else if (patch.active === false) {
    set.active = false;
    set.disabled_reason = 'Disabled through the API';
    set.disabled_at = now.toISOString();
  }
  try {
    const out = await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.webhookEndpoint(workspaceId, id),
        ...updateExpression({ set, remove }),
        ConditionExpression: 'attribute_exists(pk)',
        ReturnValues: 'ALL_NEW',
      }),
    );
    const updated = out.Attributes as EndpointItem;
    if (patch.active !== undefined) await syncEndpointCount(workspaceId, id, updated.active);
    return toView(updated, undefined, now);
  } catch (err) {
    if (isConditionFailed(err)) throw new NotFoundError(`Webhook endpoint ${id} was not found.`);
    throw err;
  }
}

/**
 * Deletes an endpoint and gives its slot back; its delivery records expire with their TTL. The
 * endpoint leaves the count of the state it is counted in, in the same transaction (conditional
 * on that state, read just before: a flip in between makes it read again).
 */
export async function deleteEndpoint(workspaceId: string, id: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const current = await findEndpoint(workspaceId, id);
    if (!current) throw new NotFoundError(`Webhook endpoint ${id} was not found.`);
    const counted = current.counted ? [endpointCount(current.counted, -1)] : [];
    try {
      await db().send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Delete: {
                TableName: tableName(),
                Key: keys.webhookEndpoint(workspaceId, id),
                ...(current.counted
                  ? {
                      ConditionExpression: 'attribute_exists(pk) AND counted = :c',
                      ExpressionAttributeValues: { ':c': current.counted },
                    }
                  : { ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(counted)' }),
              },
            },
            {
              Update: {
                TableName: tableName(),
                Key: keys.webhookCount(workspaceId),
                UpdateExpression: 'ADD #n :minus',
                ConditionExpression: '#n > :zero',
                ExpressionAttributeNames: { '#n': 'count' },
                ExpressionAttributeValues: { ':minus': -1, ':zero': 0 },
              },
            },
            ...counterTransactItems(workspaceId, counted),
          ],
        }),
      );
      await addServiceCounters(counted);
      return;
    } catch (err) {
      // Gone, or its counted state flipped since the read: read again.
      if (conditionFailedAt(err, 0) && attempt < 3) continue;
      if (conditionFailedAt(err, 0)) throw new NotFoundError(`Webhook endpoint ${id} was not found.`);
      throw err;
    }
  }
}

/**
 * Rotates the signing secret: the new one signs from now on, the old one keeps signing next to
 * it for 24 hours. Conditional on the secret not having changed since it was read.
 */
export async function rotateSecret(
  workspaceId: string,
  id: string,
  now = new Date(),
): Promise<{ id: string; secret: string; previous_secret_expires_at: string }> {
  const item = await getEndpoint(workspaceId, id);
  const secret = generateSecret();
  const expires = new Date(now.getTime() + ROTATION_OVERLAP_MS).toISOString();
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.webhookEndpoint(workspaceId, id),
        UpdateExpression:
          'SET secret_sealed = :new, previous_secret_sealed = :old, previous_secret_expires_at = :exp, updated_at = :now',
        ConditionExpression: 'secret_sealed = :old',
        ExpressionAttributeValues: {
          ':new': await encrypt(secret, id),
          ':old': item.secret_sealed,
          ':exp': expires,
          ':now': now.toISOString(),
        },
      }),
    );
  } catch (err) {
    if (isConditionFailed(err)) {
      throw new ConflictError('The secret was rotated or the endpoint deleted meanwhile; try again.');
    }
    throw err;
  }
  return { id, secret, previous_secret_expires_at: expires };
}

/** How long an opened signing secret stays in the process's memory. */
export const SECRET_CACHE_MS = 60_000;
/** At most this many opened secrets are kept (the oldest go first). */
const SECRET_CACHE_MAX = 1000;
const openedSecrets = new Map<string, { secret: string; until: number }>();

/**
 * A sealed secret, opened: decrypted once per {@link SECRET_CACHE_MS} per process. The cache is
 * keyed by the sealed value itself (and the endpoint id it is bound to), so it never answers a
 * stale secret: a rotation or a re-encryption writes a new sealed value, which is opened afresh.
 */
async function openSecret(sealed: string, endpointId: string): Promise<string> {
  const key = `${endpointId}\n${sealed}`;
  const now = Date.now();
  const hit = openedSecrets.get(key);
  if (hit && hit.until > now) return hit.secret;
  const secret = await decrypt(sealed, endpointId);
  if (openedSecrets.size >= SECRET_CACHE_MAX) {
    for (const [k, v] of openedSecrets)
      if (v.until <= now || openedSecrets.size >= SECRET_CACHE_MAX) openedSecrets.delete(k);
  }
  openedSecrets.set(key, { secret, until: now + SECRET_CACHE_MS });
  return secret;
}

/** The secrets that sign a request now: the current one, and the previous one during a rotation. */
export async function signingSecrets(
  item: Pick<EndpointItem, 'id' | 'secret_sealed' | 'previous_secret_sealed' | 'previous_secret_expires_at'>,
  now: Date,
): Promise<string[]> {
  const out = [await openSecret(item.secret_sealed, item.id)];
  if (
    item.previous_secret_sealed &&
    item.previous_secret_expires_at &&
    Date.parse(item.previous_secret_expires_at) > now.getTime()
  ) {
    out.push(await openSecret(item.previous_secret_sealed, item.id));
  }
  return out;
}
