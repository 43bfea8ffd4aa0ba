import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { addCounters, counterTransactItems, renderCounters, withCounterBuffer } from '#shared/counters.ts';

const ddb = mockClient(DynamoDBDocumentClient);
beforeEach(() => {
  ddb.reset();
  ddb.on(UpdateCommand).resolves({});
});

const NOW = new Date('2026-12-02T10:30:00Z');
const item = (attrs: Record<string, unknown>) => ({ entity: 'Counter', ...attrs });

describe('renderCounters', () => {
  it('renders plain counts and counts by status per feature', () => {
    expect(
      renderCounters([
        item({ feature: 'webhooks', counter: 'endpoints', 's#active': 2, 's#disabled': 1 }),
        item({ feature: 'plugins', counter: 'total', n: 3 }),
        { entity: 'StatusLine', line: 'x' },
      ]),
    ).toEqual({ webhooks: { endpoints: { active: 2, disabled: 1 } }, plugins: { total: 3 } });
  });

  it('sums the hour buckets of the last `hours` hours only', () => {
    const hour = (h: string, n: number) =>
      item({ feature: 'w', counter: 'deliveries_24h', window: 'recent', hours: 24, bucket: h, 's#OK': n });
    expect(
      renderCounters([hour('2026-12-02T10', 1), hour('2026-12-01T11', 2), hour('2026-12-01T10', 4)], NOW),
    ).toEqual({ w: { deliveries_24h: { OK: 3 } } });
  });

  it('counts deadlines from today on, and those of the next `days` days as soon', () => {
    const day = (d: string, n: number) =>
      item({ feature: 't', counter: 'active', window: 'until', soon: 'expiring_7d', days: 7, bucket: d, n });
    expect(
      renderCounters(
        [day('2026-12-01', 5), day('2026-12-02', 1), day('2026-12-08', 2), day('2026-12-09', 4)],
        NOW,
      ),
    ).toEqual({ t: { active: 7, expiring_7d: 3 } });
  });
});

describe('counter writes', () => {
  it('merges the changes of one item into one update, and drops what nets to zero', () => {
    const items = counterTransactItems('ws1', [
      { feature: 'oauth', counter: 'connections', status: 'ACTIVE', delta: -1 },
      { feature: 'oauth', counter: 'connections', status: 'ERROR', delta: 1 },
      {
        feature: 'tokens',
        counter: 'active',
        delta: 1,
        until: { at: '2026-12-05T10:00:00Z', soon: 'expiring_7d', days: 7 },
      },
      {
        feature: 'tokens',
        counter: 'active',
        delta: -1,
        until: { at: '2026-12-05T23:00:00Z', soon: 'expiring_7d', days: 7 },
      },
    ]);
    expect(items).toHaveLength(1);
    const update = items[0]?.Update;
    expect(update?.Key).toEqual({ pk: 'COUNTERS#WS#ws1', sk: 'oauth#connections#*' });
    expect(update?.UpdateExpression).toMatch(/^ADD #v :one, #c0 :c0, #c1 :c1 SET /);
    expect(update?.ExpressionAttributeNames).toMatchObject({ '#c0': 's#ACTIVE', '#c1': 's#ERROR' });
    expect(update?.ExpressionAttributeValues).toMatchObject({ ':c0': -1, ':c1': 1 });
  });

  it('refuses names that would break the sort key', () => {
    expect(() => counterTransactItems('ws1', [{ feature: 'a#b', counter: 'c', delta: 1 }])).toThrow();
    expect(() =>
      counterTransactItems('ws1', [{ feature: 'a', counter: 'c', status: 'x#y', delta: 1 }]),
    ).toThrow();
  });

  it('writes the workspace and the service-wide copy, and never throws when a write fails', async () => {
    ddb.on(UpdateCommand).rejects(new Error('throttled'));
    await expect(addCounters('ws1', [{ feature: 'a', counter: 'b', delta: 1 }])).resolves.toBeUndefined();
    expect(ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input.Key)).toEqual([
      { pk: 'COUNTERS#WS#ws1', sk: 'a#b#*' },
      { pk: 'STATUS', sk: 'COUNTER#a#b#*' },
    ]);
  });

  it('holds a batch’s changes back and writes them summed, once, at its end', async () => {
    await withCounterBuffer(async () => {
      for (let i = 0; i < 10; i++) {
        await addCounters('ws1', [
          { feature: 'w', counter: 'd', status: 'PENDING', delta: -1, recent: { at: NOW, hours: 24 } },
          { feature: 'w', counter: 'd', status: 'DELIVERED', delta: 1, recent: { at: NOW, hours: 24 } },
        ]);
      }
      expect(ddb.commandCalls(UpdateCommand)).toHaveLength(0);
    });
    const calls = ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(calls).toHaveLength(2);
    for (const c of calls) expect(c.ExpressionAttributeValues).toMatchObject({ ':c0': -10, ':c1': 10 });
  });
});
