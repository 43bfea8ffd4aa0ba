import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from './client.ts';

export type ItemKey = { pk: string; sk: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Deletes items by key with BatchWriteItem (25 per call, several calls side by side, unprocessed
 * keys asked again with backoff). Deleting an absent key is no error, so it is idempotent: for
 * sweeps that delete what they found (cascades), not for deletes that must be conditional.
 * Returns how many keys were deleted (asked for).
 */
export async function batchDelete(keys: readonly ItemKey[], parallel = 4): Promise<number> {
  const unique = [...new Map(keys.map((k) => [`${k.pk}\u0000${k.sk}`, { pk: k.pk, sk: k.sk }])).values()];
  const chunks: ItemKey[][] = [];
  for (let i = 0; i < unique.length; i += 25) chunks.push(unique.slice(i, i + 25));
  await forEachLimit(chunks, parallel, async (chunk) => {
    let requests = chunk.map((Key) => ({ DeleteRequest: { Key } }));
    for (let attempt = 0; requests.length; attempt++) {
      if (attempt >= 8) throw new Error(`${requests.length} deletes left unprocessed`);
      if (attempt > 0) await sleep(25 * 2 ** attempt);
      const out = await db().send(new BatchWriteCommand({ RequestItems: { [tableName()]: requests } }));
      requests = (out.UnprocessedItems?.[tableName()] ?? []) as typeof requests;
    }
  });
  return unique.length;
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
