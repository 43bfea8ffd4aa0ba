import { BatchGetCommand, BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from './client.ts';

export type ItemKey = { pk: string; sk: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type WriteRequest = { DeleteRequest: { Key: ItemKey } } | { PutRequest: { Item: Record<string, unknown> } };

/**
 * The one BatchWriteItem loop: 25 requests a call, several calls side by side, unprocessed
 * requests asked again with backoff (at most 8 tries, then it throws).
 */
async function batchWrite(requests: readonly WriteRequest[], parallel: number, what: string): Promise<void> {
  const chunks: WriteRequest[][] = [];
  for (let i = 0; i < requests.length; i += 25) chunks.push(requests.slice(i, i + 25));
  await forEachLimit(chunks, parallel, async (chunk) => {
    let pending = chunk;
    for (let attempt = 0; pending.length; attempt++) {
      if (attempt >= 8) throw new Error(`${pending.length} ${what} left unprocessed`);
      if (attempt > 0) await sleep(25 * 2 ** attempt);
      const out = await db().send(new BatchWriteCommand({ RequestItems: { [tableName()]: pending } }));
      pending = (out.UnprocessedItems?.[tableName()] ?? []) as WriteRequest[];
    }
  });
}

/**
 * Deletes items by key with BatchWriteItem (25 per call, several calls side by side, unprocessed
 * keys asked again with backoff). Deleting an absent key is no error, so it is idempotent: for
 * sweeps that delete what they found (cascades), not for deletes that must be conditional.
 * Returns how many keys were deleted (asked for).
 */
export async function batchDelete(keys: readonly ItemKey[], parallel = 4): Promise<number> {
  const unique = [...new Map(keys.map((k) => [`${k.pk}\u0000${k.sk}`, { pk: k.pk, sk: k.sk }])).values()];
  await batchWrite(
    unique.map((Key) => ({ DeleteRequest: { Key } })),
    parallel,
    'deletes',
  );
  return unique.length;
}

/**
 * Puts items with BatchWriteItem (unconditional: for idempotent writes, such as a page's items
 * written again when the page is replayed), with the same chunks, parallelism and retries.
 */
export async function batchPut(items: readonly Record<string, unknown>[], parallel = 4): Promise<void> {
  await batchWrite(
    items.map((Item) => ({ PutRequest: { Item } })),
    parallel,
    'puts',
  );
}

/**
 * Reads items by key with BatchGetItem (100 keys a call, ConsistentRead, unprocessed keys asked
 * again with backoff, at most 8 tries). Absent items are simply not returned.
 */
export async function batchGet<T>(keys: readonly ItemKey[]): Promise<T[]> {
  const found: T[] = [];
  for (let i = 0; i < keys.length; i += 100) {
    let pending: ItemKey[] | undefined = keys.slice(i, i + 100);
    for (let attempt = 0; pending?.length; attempt++) {
      if (attempt >= 8) throw new Error(`${pending.length} reads left unprocessed`);
      if (attempt > 0) await sleep(25 * 2 ** attempt);
      const out = await db().send(
        new BatchGetCommand({ RequestItems: { [tableName()]: { Keys: pending, ConsistentRead: true } } }),
      );
      found.push(...((out.Responses?.[tableName()] ?? []) as T[]));
      pending = out.UnprocessedKeys?.[tableName()]?.Keys as ItemKey[] | undefined;
    }
  }
  return found;
}

/** Runs `fn` over `items`, at most `limit` at a time (bounded fan-out of single-item writes). */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  });
  await Promise.all(lanes);
}
