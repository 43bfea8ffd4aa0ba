import type { CascadeParticipant } from '#shared/cascade.ts';
import { consentsParticipant } from '#shared/consents/lifecycle.ts';
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
 *
 * Still to join:
 * - bindings and their runs (not built yet): `bindingsParticipant`, kinds ['workspace',
 *   'oauth_app'] (a connection's bindings already go with it, access pattern O4).
 */
export const participants: readonly CascadeParticipant[] = [
  tokensParticipant,
  webhooksParticipant,
  pluginsParticipant,
  oauthParticipant,
  consentsParticipant,
];
