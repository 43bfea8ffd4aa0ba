import type { EventConsumer } from '#shared/events/consumers.ts';
import { applyMembershipChange, MEMBERSHIP_EVENT_TYPES } from './membership.ts';
import { applyPlanChange } from './plans.ts';

/** The tokens feature's consumers of the ingest queue: plan changes and membership changes. */
export const tokensConsumers: EventConsumer[] = [
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
];
