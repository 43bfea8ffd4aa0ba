import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import * as v from 'valibot';
import { config } from '#shared/config.ts';
import { db, tableName } from '#shared/db/client.ts';
import { isConditionFailed } from '#shared/db/conditions.ts';
import { keys } from '#shared/db/keys.ts';
import { queryAll } from '#shared/db/query.ts';
import type { PronaFlowEvent } from '#shared/events/envelope.ts';
import { logger } from '#shared/logger.ts';
import { check } from '#shared/validation.ts';

export const planSchema = v.picklist(['free', 'pro', 'enterprise']);
export type Plan = v.InferOutput<typeof planSchema>;
/** A workspace without a `workspace.plan_changed` event yet is on the free plan. */
export const DEFAULT_PLAN: Plan = 'free';

/** Requests allowed per window for a plan (RATE_LIMIT_TIER_*_REQ_PER_MIN). */
export function planLimit(plan: Plan): number {
  const cfg = config();
  if (plan === 'enterprise') return cfg.RATE_LIMIT_TIER_ENTERPRISE_REQ_PER_MIN;
  if (plan === 'pro') return cfg.RATE_LIMIT_TIER_PRO_REQ_PER_MIN;
  return cfg.RATE_LIMIT_TIER_FREE_REQ_PER_MIN;
}

export interface WorkspacePlan {
  plan: Plan;
  /** `occurred_at` of the event that set it (absent for the default). */
  asOf?: string;
}

/** The workspace's plan item (default free). */
export async function getWorkspacePlan(workspaceId: string, consistent = false): Promise<WorkspacePlan> {
  const { Item } = await db().send(
    new GetCommand({
      TableName: tableName(),
      Key: keys.workspacePlan(workspaceId),
      ConsistentRead: consistent,
    }),
  );
  const plan = check(planSchema, Item?.plan);
  return plan.success ? { plan: plan.data, asOf: Item?.plan_changed_at } : { plan: DEFAULT_PLAN };
}

/**
 * A condition that holds while the plan item is still what was read: token writes that copy the
 * plan onto an authentication record check it in their transaction, so a plan change can never
 * slip between reading the plan and writing the token.
 */
export function planUnchangedCheck(workspaceId: string, read: WorkspacePlan) {
  return {
    ConditionCheck: {
      TableName: tableName(),
      Key: keys.workspacePlan(workspaceId),
      ...(read.asOf
        ? {
            ConditionExpression: 'plan_changed_at = :asof',
            ExpressionAttributeValues: { ':asof': read.asOf },
          }
        : { ConditionExpression: 'attribute_not_exists(pk)' }),
    },
  };
}

export const planChangedData = v.object({ plan: planSchema });

/**
 * Applies a `workspace.plan_changed` event: sets the workspace's plan item unless a newer event
 * already did (ordering by `occurred_at`; a replay of the same event is applied again, which is
 * harmless), then copies the plan onto the authentication record of every token of the
 * workspace, each guarded the same way. Idempotent: SQS delivers at least once.
 */
export async function applyPlanChange(event: PronaFlowEvent): Promise<'applied' | 'stale'> {
  const data = check(planChangedData, event.data);
  if (!data.success) {
    // A malformed event will never become valid: log and acknowledge rather than retry forever.
    logger.warn('workspace.plan_changed with invalid data ignored', { event_id: event.id });
    return 'stale';
  }
  const { plan } = data.data;
  const at = new Date(event.occurred_at).toISOString();
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.workspacePlan(event.workspace_id),
        UpdateExpression:
          'SET entity = :e, workspace_id = :ws, #plan = :p, plan_changed_at = :at, event_id = :id, updated_at = :now',
        ConditionExpression: 'attribute_not_exists(plan_changed_at) OR plan_changed_at <= :at',
        ExpressionAttributeNames: { '#plan': 'plan' },
        ExpressionAttributeValues: {
          ':e': 'WorkspacePlan',
          ':ws': event.workspace_id,
          ':p': plan,
          ':at': at,
          ':id': event.id,
          ':now': new Date().toISOString(),
        },
      }),
    );
  } catch (err) {
    if (isConditionFailed(err)) return 'stale';
    throw err;
  }
  // Strongly consistent query of the base table: a token created before the plan item changed
  // is seen here; one created after it read the new plan (see planUnchangedCheck).
  const tokens = queryAll({
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :sk)',
    ExpressionAttributeValues: {
      ':pk': keys.workspace(event.workspace_id),
      ':sk': keys.apiTokensOfWorkspace(),
    },
    ProjectionExpression: 'token_hash',
    ConsistentRead: true,
  });
  for await (const item of tokens) {
    if (typeof item.token_hash === 'string') await setTokenPlan(item.token_hash, plan, at);
  }
  return 'applied';
}

async function setTokenPlan(hash: string, plan: Plan, at: string): Promise<void> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.apiTokenHash(hash),
        UpdateExpression: 'SET #plan = :p, plan_changed_at = :at',
        ExpressionAttributeNames: { '#plan': 'plan' },
        ConditionExpression:
          'attribute_exists(pk) AND (attribute_not_exists(plan_changed_at) OR plan_changed_at <= :at)',
        ExpressionAttributeValues: { ':p': plan, ':at': at },
      }),
    );
  } catch (err) {
    // Revoked (record gone) or already on a newer plan: nothing to do.
    if (!isConditionFailed(err)) throw err;
  }
}
