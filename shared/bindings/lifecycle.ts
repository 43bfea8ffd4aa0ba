/**
 * Sync bindings in the lifecycle cascades (shared/cascade.ts). A binding's items live in its
 * connection's partition (O4), so whatever deletes the connection deletes them (a user's, a
 * workspace's, an OAuth app's connections: the OAuth participant). This participant makes that
 * immediate for a deleted workspace:
 * - MARK pauses the workspace's bindings (no new run starts; a run in progress is asked to stop
 *   after its page and fails at its next invocation, when its connection is gone);
 * - SWEEP deletes each binding with its runs, links and pending changes, a binding per page, so a
 *   workspace's bindings are gone even before its connections' turn.
 * An OAuth app's deletion needs no step here: its connections (and so their bindings) are swept
 * by the OAuth participant, and a run checks at each invocation that its app is not deleted.
 */
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import type { CascadeParticipant } from '#shared/cascade.ts';
import { db, tableName } from '#shared/db/client.ts';
import { isConditionFailed } from '#shared/db/conditions.ts';
import { bindingKeys } from './keys.ts';
import { stopActiveRun } from './runs.ts';
import { allBindingsOf, deleteBindingData, updateBinding } from './store.ts';

export const bindingsParticipant: CascadeParticipant = {
  name: 'bindings',
  kinds: ['workspace'],
  mark: async (subject) => {
    for (const binding of await allBindingsOf(subject.id)) {
      if (binding.status !== 'PAUSED') {
        await updateBinding(binding, {
          status: 'PAUSED',
          status_reason: { code: 'workspace_deleted', message: 'The workspace was deleted' },
        }).catch(() => undefined); // changed meanwhile: the sweep deletes it anyway
      }
      await stopActiveRun(binding);
    }
  },
  sweep: async (subject, _cursor, budget) => {
    const all = await allBindingsOf(subject.id);
    let deleted = 0;
    for (const binding of all.slice(0, Math.max(1, Math.floor(budget.maxItems / 100)))) {
      deleted += await deleteBindingData(binding);
      await db()
        .send(
          new DeleteCommand({
            TableName: tableName(),
            Key: bindingKeys.resourceClaim(binding.connection_id, binding.resource_key, binding.sync_entity),
            ConditionExpression: 'attribute_not_exists(pk) OR binding_id = :id',
            ExpressionAttributeValues: { ':id': binding.id },
          }),
        )
        .catch((err) => {
          if (!isConditionFailed(err)) throw err;
        });
      await db().send(new DeleteCommand({ TableName: tableName(), Key: { pk: binding.pk, sk: binding.sk } }));
      deleted += 2;
    }
    const left = all.length > Math.max(1, Math.floor(budget.maxItems / 100));
    return { deleted, ...(left ? { next: {} } : {}) };
  },
};
