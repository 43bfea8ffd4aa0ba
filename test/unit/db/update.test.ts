import { describe, expect, it } from 'vitest';
import { updateExpression } from '#shared/db/update.ts';

describe('updateExpression', () => {
  it('sets and removes through placeholders, never splicing a name into the expression', () => {
    expect(
      updateExpression({ set: { status: 'ACTIVE', 'odd name': 1 }, remove: ['a', 'a', 'lease_until'] }),
    ).toEqual({
      UpdateExpression: 'SET #s0 = :s0, #s1 = :s1 REMOVE #r0, #r1',
      ExpressionAttributeNames: { '#s0': 'status', '#s1': 'odd name', '#r0': 'a', '#r1': 'lease_until' },
      ExpressionAttributeValues: { ':s0': 'ACTIVE', ':s1': 1 },
    });
  });

  it("appends the caller's own SET clauses, and leaves out an empty part", () => {
    expect(updateExpression({ clauses: ['version = version + :one'], remove: ['x'] }).UpdateExpression).toBe(
      'SET version = version + :one REMOVE #r0',
    );
    expect(updateExpression({ set: { a: 1 } }).UpdateExpression).toBe('SET #s0 = :s0');
    expect(() => updateExpression({})).toThrow(/set or remove/);
  });
});
