/**
 * Read-side queries over an endpoint's deliveries (W4, gsi1): the history list of the API and
 * the pages of FAILED/EXPIRED deliveries a recover request restarts.
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { type Page, queryPage } from '#shared/db/pagination.ts';
import type { DeliveryItem } from './delivery-store.ts';
import { toSummary } from './delivery-views.ts';
import type { DeliveryStatus } from './endpoints.ts';
import type { DeliverySummary } from './schemas.ts';

/**
 * Index reads one deliveries page may make when status/type filters skip items: a page holds
 * fewer than `limit` items (possibly none) with a `next_cursor` only when more than
 * LIST_MAX_QUERIES × `limit` deliveries in a row did not match.
 */
export const LIST_MAX_QUERIES = 5;

/** A page of an endpoint's deliveries, newest first, filtered by status, type and time. */
export async function listDeliveries(
  endpointId: string,
  q: {
    limit: number;
    cursor?: string;
    status?: DeliveryStatus;
    event_type?: string;
    since?: string;
    until?: string;
  },
  now = new Date(),
): Promise<Page<DeliverySummary>> {
  const gsi1pk = `WEBHOOK#${endpointId}`;
  const filters = ['#ttl > :now'];
  const names: Record<string, string> = { '#ttl': 'ttl' };
  const values: Record<string, unknown> = {
    ':pk': gsi1pk,
    ':from': q.since ? new Date(q.since).toISOString() : '0',
    ':to': q.until ? new Date(q.until).toISOString() : '~',
    ':now': Math.floor(now.getTime() / 1000),
  };
  if (q.status) {
    filters.push('#s = :s');
    names['#s'] = 'status';
    values[':s'] = q.status;
  }
  if (q.event_type) {
    filters.push('event_type = :t');
    values[':t'] = q.event_type;
  }
  // Status and type are filters: queryPage reads on until the page is full (LIST_MAX_QUERIES reads at most).
  const page = await queryPage(
    {
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk AND gsi1sk BETWEEN :from AND :to',
      FilterExpression: filters.join(' AND '),
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ScanIndexForward: false,
    },
    {
      scope: {
        list: 'deliveries',
        key: {
          gsi1pk,
          gsi1sk: { between: [values[':from'] as string, values[':to'] as string] },
          pk: { prefix: keys.webhookDeliveryPrefix },
          sk: 'DELIVERY',
        },
      },
      limit: q.limit,
      cursor: q.cursor,
      maxReads: LIST_MAX_QUERIES,
    },
  );
  return { data: (page.items as unknown as DeliveryItem[]).map(toSummary), next_cursor: page.next_cursor };
}

/** One page of an endpoint's FAILED/EXPIRED deliveries created in [since, until) (recover). */
export async function failedDeliveriesPage(
  endpointId: string,
  since: string,
  until: string,
  cursor?: Record<string, unknown>,
): Promise<{ items: DeliveryItem[]; next?: Record<string, unknown> }> {
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk AND gsi1sk BETWEEN :from AND :to',
      FilterExpression: '#s IN (:f, :e)',
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: {
        ':pk': `WEBHOOK#${endpointId}`,
        ':from': since,
        ':to': until,
        ':f': 'FAILED',
        ':e': 'EXPIRED',
      },
      Limit: 100,
      ExclusiveStartKey: cursor,
    }),
  );
  return { items: (out.Items ?? []) as DeliveryItem[], next: out.LastEvaluatedKey };
}
