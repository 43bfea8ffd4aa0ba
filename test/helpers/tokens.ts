import { db } from '#shared/db/client.ts';
import type { WorkspaceRole } from '#shared/http/caller.ts';
import { createToken } from '#shared/tokens/token-writes.ts';

/**
 * Counts the DynamoDB commands the process-wide client sends (one per round trip; SDK retries
 * happen below the `initialize` step and are not counted). Call `stop()` to remove it.
 */
export function countDynamoCalls(): { calls: string[]; reset: () => void; stop: () => void } {
  const calls: string[] = [];
  const name = `count-calls-${Math.random().toString(36).slice(2)}`;
  db().middlewareStack.add(
    (next, context) => async (args) => {
      calls.push(String(context.commandName ?? 'unknown'));
      return next(args);
    },
    { step: 'initialize', name },
  );
  return {
    calls,
    reset: () => {
      calls.length = 0;
    },
    stop: () => {
      db().middlewareStack.remove(name);
    },
  };
}

/** Creates a token directly through the repository; returns its id and value. */
export async function seedToken(input: {
  userId?: string;
  workspaceId?: string;
  role?: WorkspaceRole;
  scopes?: string[];
  name?: string;
  expiresAt?: string;
}): Promise<{ id: string; value: string }> {
  const { item, value } = await createToken({
    userId: input.userId ?? 'u1',
    workspaceId: input.workspaceId ?? 'ws1',
    role: input.role ?? 'admin',
    name: input.name ?? 'seeded',
    scopes: input.scopes ?? ['read:webhooks'],
    expiresAt: input.expiresAt ?? new Date(Date.now() + 30 * 86_400_000).toISOString(),
  });
  return { id: item.id, value };
}
