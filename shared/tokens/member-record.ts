import { BatchGetCommand } from '@aws-sdk/lib-dynamodb';
import * as v from 'valibot';
import { deletedAmong, tombstoneKeys } from '#shared/auth/deleted.ts';
import type { SessionContext, WorkspaceStanding } from '#shared/auth/standing.ts';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { check } from '#shared/validation.ts';
import { DEFAULT_PLAN, planSchema } from './plans.ts';

/**
 * The latest membership change applied for a user (`WS#<ws>` / `TOKENMEMBER#<user>`, access
 * pattern T9): written by the membership consumer, ordered by `occurred_at` (`changed_at`), so
 * a late older event never undoes a newer one. Sessions are held to it at authentication, and
 * the token writes a session makes check it has not moved since.
 */
export const membershipKey = (workspaceId: string, user: string) => ({
  pk: keys.workspace(workspaceId),
  sk: `TOKENMEMBER#${encodeURIComponent(user)}`,
});

const record = v.object({
  state: v.picklist(['removed', 'member', 'admin']),
  changed_at: v.pipe(v.string(), v.minLength(1)),
  order: v.pipe(v.string(), v.minLength(1)),
});

/**
 * Which of two changes of the same `occurred_at` wins (SQS keeps no order): the more restrictive
 * one, so a removal is never undone by a role change stamped the same instant.
 */
const TIE_RANK = { removed: '3', member: '2', admin: '1' } as const;

/**
 * The total order of membership changes, also the record's version: `occurred_at` then the
 * tie rank (ISO 8601 strings of `toISOString()` have one length, so they compare as text). A
 * change is applied only when its order is not below the record's.
 */
export function membershipOrder(changedAt: string, state: keyof typeof TIE_RANK): string {
  return `${changedAt}#${TIE_RANK[state]}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The session context of a user in a workspace: the membership record, the workspace's plan
 * item and the tombstones of a deleted user or workspace, in ONE strongly consistent BatchGetItem (so a session request still costs two round
 * trips with the rate-limit counter, and a change recorded a moment ago applies to the very next
 * request). Keys DynamoDB leaves unprocessed (throttling) are asked again, a few times.
 */
export async function readSessionContext(workspaceId: string, userId: string): Promise<SessionContext> {
  const table = tableName();
  let pending: Record<string, unknown>[] = [
    keys.workspacePlan(workspaceId),
    membershipKey(workspaceId, userId),
    // The tombstones of a deleted user or workspace: same request, so no extra round trip.
    ...tombstoneKeys(workspaceId, userId),
  ];
  const items: Record<string, unknown>[] = [];
  for (let attempt = 0; pending.length; attempt++) {
    if (attempt > 0) {
      if (attempt > 4) throw new Error('The session context could not be read: keys left unprocessed');
      await sleep(10 * 2 ** attempt);
    }
    const out = await db().send(
      new BatchGetCommand({ RequestItems: { [table]: { Keys: pending, ConsistentRead: true } } }),
    );
    items.push(...(out.Responses?.[table] ?? []));
    pending = out.UnprocessedKeys?.[table]?.Keys ?? [];
  }
  const planItem = items.find((i) => i.sk === 'PLAN');
  const memberItem = items.find((i) => typeof i.sk === 'string' && i.sk.startsWith('TOKENMEMBER#'));
  const plan = check(planSchema, planItem?.plan);
  const member = check(record, memberItem);
  const standing: WorkspaceStanding | undefined = member.success
    ? { state: member.data.state, changedAt: member.data.changed_at, version: member.data.order }
    : undefined;
  const deleted = deletedAmong(items, workspaceId, userId);
  return {
    plan: plan.success ? plan.data : DEFAULT_PLAN,
    ...(standing ? { standing } : {}),
    ...(deleted ? { deleted } : {}),
  };
}

/**
 * A transaction item that holds while the membership record is still the version authentication
 * read (`asOf`; `null`: there was none): a token write of a session cannot slip between the
 * recording of a removal or demotion and the consumer's fan-out over the user's tokens.
 */
export function membershipUnchangedCheck(workspaceId: string, userId: string, asOf: string | null) {
  return {
    ConditionCheck: {
      TableName: tableName(),
      Key: membershipKey(workspaceId, userId),
      ...(asOf
        ? {
            ConditionExpression: '#order = :asof',
            ExpressionAttributeNames: { '#order': 'order' },
            ExpressionAttributeValues: { ':asof': asOf },
          }
        : {
            ConditionExpression: 'attribute_not_exists(#order)',
            ExpressionAttributeNames: { '#order': 'order' },
          }),
    },
  };
}
