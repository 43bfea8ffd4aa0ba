import { bindingsParticipant } from '#shared/bindings/lifecycle.ts';
import type { CascadeParticipant } from '#shared/cascade.ts';
import { consentsParticipant } from '#shared/consents/lifecycle.ts';
import { countersParticipant } from '#shared/counters.ts';
import { oauthParticipant } from '#shared/oauth/lifecycle.ts';
import { pluginsParticipant } from '#shared/plugins/lifecycle.ts';
import { tokensParticipant } from '#shared/tokens/lifecycle.ts';
import { webhooksParticipant } from '#shared/webhooks/lifecycle.ts';

/**
 * Every feature's part in the lifecycle cascades, in the order their sweeps run (shared/cascade.ts
 * says what a participant is). A feature with items of a user, workspace, plugin or OAuth app adds
 * its participant here, from its own `shared/<feature>/lifecycle.ts`: the ingest worker runs their
 * marks, the lifecycle worker their sweeps (both read this list, as the ingest worker lists the
 * event consumers).
 */
export const participants: readonly CascadeParticipant[] = [
  tokensParticipant,
  webhooksParticipant,
  bindingsParticipant,
  pluginsParticipant,
  oauthParticipant,
  consentsParticipant,
  // Last: a deleted workspace's counters go once the features' sweeps have counted their items out.
  countersParticipant,
];
