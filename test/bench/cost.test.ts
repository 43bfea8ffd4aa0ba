import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ASSUMED, apiCalls, costTable, PRICES, webhookDeliveries } from './cost.ts';

describe('the cost model (README "Cost model")', () => {
  it("is the README's table, so the figures cannot drift from their inputs", () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    const m = /<!-- cost-table -->\n([\s\S]*?)\n<!-- \/cost-table -->/.exec(readme);
    expect(m, 'README has no <!-- cost-table --> … <!-- /cost-table --> block').not.toBeNull();
    expect(m?.[1]).toBe(costTable());
  });

  it('prices the measured DynamoDB requests of the token hot path and moves with them', () => {
    const dynamo = (lines: ReturnType<typeof apiCalls>) =>
      lines.find(([c]) => c.startsWith('DynamoDB (auth'))?.[1] ?? Number.NaN;
    // 1 RRU + 1 WRU of authentication plus the route's read, per call.
    expect(dynamo(apiCalls())).toBeCloseTo(
      1e6 * (PRICES.dynamoRru * (1 + ASSUMED.apiRouteReadRru) + PRICES.dynamoWru),
    );
    const before = webhookDeliveries().reduce((a, [, d]) => a + d, 0);
    ASSUMED.webhookWruPerDelivery['status counters (2 per batch of 10)'] += 1;
    try {
      const after = webhookDeliveries().reduce((a, [, d]) => a + d, 0);
      expect(after - before).toBeCloseTo(1e6 * PRICES.dynamoWru);
    } finally {
      ASSUMED.webhookWruPerDelivery['status counters (2 per batch of 10)'] -= 1;
    }
  });
});
