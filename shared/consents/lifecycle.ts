/**
 * Consents in the lifecycle cascades (shared/cascade.ts):
 * - `user.deleted`: the user's consent records are kept, as evidence of what was consented to and
 *   when, but pseudonymized: each record moves to a key naming the user's pseudonym (the keyed
 *   hash the audit log uses), its IP address and user agent are dropped, its receipts name the
 *   pseudonym; the live-consent pointers go. Then the personal data of the user's audit entries
 *   is erased (the entries stay and still verify). A page of records per call.
 * - `workspace.deleted`: the workspace's consent records and pointers are deleted (its audit
 *   trails stay for their retention period, unreadable through the API once the workspace is gone).
 */

import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { erasePersonalData, subjectOf } from '#shared/audit/log.ts';
import type { CascadeParticipant, CascadeSubject, SweepCursor, SweepPage } from '#shared/cascade.ts';
import { batchDelete, type ItemKey } from '#shared/db/batch.ts';
import { userItemsPage } from '#shared/db/by-user.ts';
import { db, tableName } from '#shared/db/client.ts';
import { conditionFailedAt } from '#shared/db/conditions.ts';
import { transactWrite } from '#shared/db/transact.ts';
import { consentKeys } from './keys.ts';
import type { ConsentReceipt } from './schemas.ts';
import type { ConsentItem } from './service.ts';

/** What an erased user is called in their kept records. */
export const erasedUser = async (userId: string) => `erased:${await subjectOf(userId)}`;

const erasedReceipt = (r: ConsentReceipt | undefined, principal: string) =>
  r ? { ...r, pii_principal_id: principal } : undefined;

/** Moves one record to its pseudonymous key (idempotent: a record already moved is not found again). */
async function pseudonymize(ref: ItemKey, principal: string): Promise<boolean> {
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: ref, ConsistentRead: true }),
  );
  const c = Item as ConsentItem | undefined;
  if (!c || c.user_id.startsWith('erased:')) return false;
  const { gsi1pk: _g, gsi1sk: _s, ...rest } = c;
  const kept: ConsentItem = {
    ...rest,
    ...consentKeys.record(c.workspace_id, principal, c.id),
    user_id: principal,
    source_ip: null,
    user_agent: null,
    receipt: erasedReceipt(c.receipt, principal) as ConsentReceipt,
    ...(c.revocation_receipt ? { revocation_receipt: erasedReceipt(c.revocation_receipt, principal) } : {}),
  };
  try {
    await transactWrite([
      { Delete: { TableName: tableName(), Key: ref, ConditionExpression: 'attribute_exists(pk)' } },
      { Put: { TableName: tableName(), Item: kept } },
      {
        Delete: {
          TableName: tableName(),
          Key: consentKeys.live(c.workspace_id, c.user_id, c.consent_type, c.resource_type, c.resource_id),
        },
      },
    ]);
    return true;
  } catch (err) {
    if (conditionFailedAt(err, 0)) return false; // moved by a concurrent page
    throw err;
  }
}

async function sweepUser(
  s: CascadeSubject,
  cursor: SweepCursor | undefined,
  max: number,
): Promise<SweepPage> {
  if (cursor?.phase === 'audit') {
    return { deleted: await erasePersonalData(s.id) };
  }
  const page = await userItemsPage(s.id, {
    skPrefix: 'CONSENT#',
    entities: ['Consent'],
    limit: Math.max(1, Math.floor(max / 3)),
    start: cursor?.start as Record<string, unknown> | undefined,
  });
  let deleted = 0;
  const principal = page.items.length ? await erasedUser(s.id) : '';
  for (const ref of page.items) if (await pseudonymize({ pk: ref.pk, sk: ref.sk }, principal)) deleted++;
  return { deleted, next: page.next ? { start: page.next } : { phase: 'audit' } };
}

async function sweepWorkspace(s: CascadeSubject, max: number): Promise<SweepPage> {
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      // Records (CONSENT#…) and live pointers (CONSENTLIVE#…) share the prefix.
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': consentKeys.workspacePartition(s.id), ':p': 'CONSENT' },
      ProjectionExpression: 'pk, sk',
      Limit: max,
      ConsistentRead: true,
    }),
  );
  const keys = (out.Items ?? []) as ItemKey[];
  if (!keys.length) return { deleted: 0 };
  return { deleted: await batchDelete(keys), next: {} };
}

/** Consents' participant (registered in shared/lifecycle/participants.ts). */
export const consentsParticipant: CascadeParticipant = {
  name: 'consents',
  kinds: ['user', 'workspace'],
  sweep: (s, cursor, budget) =>
    s.kind === 'user' ? sweepUser(s, cursor, budget.maxItems) : sweepWorkspace(s, budget.maxItems),
};
