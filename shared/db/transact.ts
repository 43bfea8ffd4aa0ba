import { TransactWriteCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { db } from './client.ts';
import { isTransactionConflict } from './conditions.ts';

export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs a transaction, trying again when it lost a race with another transaction on the same items
 * (`TransactionConflict`: many writers on one counter, e.g. concurrent installs into a workspace).
 * Backs off with full jitter (20 ms × 2^n, capped at 1 s) for at most `attempts` tries; refused
 * conditions and every other error are thrown at once, for the caller to read with
 * `conditionFailedAt`.
 */
export async function transactWrite(items: TransactItem[], opts: { attempts?: number } = {}): Promise<void> {
  const attempts = opts.attempts ?? 8;
  for (let attempt = 1; ; attempt++) {
    try {
      await db().send(new TransactWriteCommand({ TransactItems: items }));
      return;
    } catch (err) {
      if (!isTransactionConflict(err) || attempt >= attempts) throw err;
      await sleep(Math.random() * Math.min(1000, 20 * 2 ** attempt));
    }
  }
}
