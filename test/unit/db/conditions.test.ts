import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  cancellationCodes,
  conditionFailedAt,
  isConditionFailed,
  isTransactionConflict,
} from '#shared/db/conditions.ts';

const meta = { $metadata: {} };
const cancelled = (...codes: (string | undefined)[]) =>
  new TransactionCanceledException({
    ...meta,
    message: 'cancelled',
    CancellationReasons: codes.map((Code) => ({ Code })),
  });

describe('conditional-write refusals', () => {
  it('recognises a failed condition by name, whatever SDK copy threw it', () => {
    expect(isConditionFailed(new ConditionalCheckFailedException({ ...meta, message: 'x' }))).toBe(true);
    expect(
      isConditionFailed(Object.assign(new Error('x'), { name: 'ConditionalCheckFailedException' })),
    ).toBe(true);
    expect(isConditionFailed(cancelled('ConditionalCheckFailed'))).toBe(false);
    expect(isConditionFailed(undefined)).toBe(false);
  });

  it('reads the reason of each item of a cancelled transaction', () => {
    const err = cancelled('None', 'ConditionalCheckFailed', undefined);
    expect(cancellationCodes(err)).toEqual(['None', 'ConditionalCheckFailed', 'None']);
    expect(conditionFailedAt(err, 1)).toBe(true);
    expect(conditionFailedAt(err, 0)).toBe(false);
    expect(cancellationCodes(new Error('other'))).toBeUndefined();
  });

  it('tells a lost race (retry) from a failed condition', () => {
    expect(isTransactionConflict(cancelled('TransactionConflict', 'None'))).toBe(true);
    expect(isTransactionConflict(cancelled('TransactionConflict', 'ConditionalCheckFailed'))).toBe(false);
    expect(
      isTransactionConflict(Object.assign(new Error('x'), { name: 'TransactionConflictException' })),
    ).toBe(true);
  });
});
