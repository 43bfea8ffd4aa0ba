import { describe, expect, it } from 'vitest';
import { workers } from '#functions/workers.ts';
import { ConfigError, parseConfig } from '#shared/config.ts';
import { LEASE_MARGIN_SECONDS } from '#shared/webhooks/worker.ts';

describe('WEBHOOK_TIMEOUT_SECONDS', () => {
  it('accepts 1 to 30 seconds', () => {
    expect(parseConfig({ WEBHOOK_TIMEOUT_SECONDS: '30' }).WEBHOOK_TIMEOUT_SECONDS).toBe(30);
    expect(parseConfig({ WEBHOOK_TIMEOUT_SECONDS: '1' }).WEBHOOK_TIMEOUT_SECONDS).toBe(1);
  });

  it.each([['31'], ['0'], ['600']])('refuses %s at start, naming the variable', (value) => {
    expect(() => parseConfig({ WEBHOOK_TIMEOUT_SECONDS: value })).toThrow(ConfigError);
    expect(() => parseConfig({ WEBHOOK_TIMEOUT_SECONDS: value })).toThrow(/WEBHOOK_TIMEOUT_SECONDS/);
  });

  it("keeps the longest attempt plus its lease margin within the delivery worker's Lambda timeout", () => {
    const worker = workers.find((w) => w.id === 'deliverWebhooks');
    expect(30 + LEASE_MARGIN_SECONDS).toBeLessThan(worker?.timeoutSeconds ?? 0);
  });
});

describe('expiry sweeper worker', () => {
  it('runs every 15 minutes with table read and write grants', () => {
    expect(workers.find((w) => w.id === 'expireWebhookDeliveries')).toMatchObject({
      handler: 'workers/expire-webhook-deliveries',
      trigger: { schedule: 'rate(15 minutes)' },
      grants: ['table:read', 'table:write'],
    });
  });
});
