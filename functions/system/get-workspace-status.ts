import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/system/routes.ts';
import { readStatusPartition, readWorkspaceCounters, renderCounters } from '#shared/counters.ts';
import { ok } from '#shared/http/reply.ts';
import { dlqDepths } from '#shared/queues.ts';
import { statusLinesOf } from '#shared/status-lines.ts';

/**
 * The workspace's counters (ONE Query of its counter partition); for an operator, also the
 * service-wide counters with the status lines (ONE Query of the status partition) and the depth
 * of every DLQ. Renders whatever counters the features keep: no feature code here.
 */
export const handler = endpoint(routes.workspaceStatus, async ({ caller }) => {
  const now = new Date();
  const [features, service] = await Promise.all([
    readWorkspaceCounters(caller.workspaceId, now),
    caller.operator === true ? Promise.all([readStatusPartition(), dlqDepths()]) : undefined,
  ]);
  return ok({
    workspace_id: caller.workspaceId,
    time: now.toISOString(),
    features,
    ...(service
      ? {
          service: {
            features: renderCounters(service[0], now),
            dead_letter_queues: service[1],
            background: statusLinesOf(service[0], false),
          },
        }
      : {}),
  });
});
