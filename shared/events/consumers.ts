import { applyMembershipChange, MEMBERSHIP_EVENT_TYPES } from '#shared/tokens/membership.ts';
import { applyPlanChange } from '#shared/tokens/plans.ts';
import { webhooksConsumer } from '#shared/webhooks/fanout.ts';
import type { PronaFlowEvent } from './envelope.ts';

/** A feature that reacts to PronaFlow events. `handle` must be idempotent: SQS delivers at least once. */
export interface EventConsumer {
  name: string;
  accepts: (type: string) => boolean;
  handle: (event: PronaFlowEvent) => Promise<void>;
}

/** Every consumer of the ingest queue. A feature registers its consumer here. */
export const consumers: EventConsumer[] = [
  // ── API tokens ──
  {
    name: 'tokens.plan',
    accepts: (type) => type === 'workspace.plan_changed',
    handle: async (event) => {
      await applyPlanChange(event);
    },
  },
  {
    name: 'tokens.membership',
    accepts: (type) => MEMBERSHIP_EVENT_TYPES.includes(type),
    handle: async (event) => {
      await applyMembershipChange(event);
    },
  },
  // ── Webhooks ──
  webhooksConsumer,
  // ── Other features ──
];
