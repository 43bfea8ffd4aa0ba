/**
 * The one way to read DynamoDB's refusals of conditional writes. Errors are recognised by name,
 * not by `instanceof`, so a copy of the SDK bundled twice (or a test double) is read the same way.
 */

/** True when a single-item write (Put, Update, Delete) failed its `ConditionExpression`. */
export function isConditionFailed(err: unknown): boolean {
  return (err as Error | undefined)?.name === 'ConditionalCheckFailedException';
}

/** True for any cancelled transaction. */
export function isTransactionCanceled(err: unknown): boolean {
  return (err as Error | undefined)?.name === 'TransactionCanceledException';
}

/**
 * The reason code of each item of a cancelled transaction (`'ConditionalCheckFailed'`,
 * `'TransactionConflict'`, `'None'`, …), in the order of `TransactItems`; undefined when `err` is
 * not a cancelled transaction.
 */
export function cancellationCodes(err: unknown): string[] | undefined {
  if (!isTransactionCanceled(err)) return undefined;
  return ((err as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? []).map(
    (r) => r.Code ?? 'None',
  );
}

/** True when a cancelled transaction failed the condition of the item at `index`. */
export function conditionFailedAt(err: unknown, index: number): boolean {
  return cancellationCodes(err)?.[index] === 'ConditionalCheckFailed';
}

/** True when a transaction lost a race with another one on the same items (retrying may succeed). */
export function isTransactionConflict(err: unknown): boolean {
  if ((err as Error | undefined)?.name === 'TransactionConflictException') return true;
  const codes = cancellationCodes(err);
  return !!codes?.includes('TransactionConflict') && !codes.includes('ConditionalCheckFailed');
}
