/**
 * Operational webhooks of OAuth connections: a failed refresh raises
 * `oauth_connection.refresh_failed`, a refresh that finds the grant dead raises
 * `oauth_connection.expired`, through the ingest queue (as the webhooks feature consumes them),
 * after the failure is recorded, and never with a token in the payload.
 */
import { PurgeQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handler as refreshEndpoint } from '#functions/oauth/refresh-connection.ts';
import { routes } from '#functions/routes.ts';
import { webhooks } from '#functions/webhooks/feature.ts';
import { openAccessToken, openRefreshToken } from '#shared/oauth/connections.ts';
import { reload } from '#shared/oauth/connections-repo.ts';
import { sqs } from '#shared/queues.ts';
import { isKnownEventType } from '#shared/webhooks/catalog.ts';
import { setEnv, useTestSqs } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { connectThroughFlow, useOAuthEnv } from '#test/helpers/oauth-setup.ts';

const env = useOAuthEnv();
const local = useTestSqs();
let alice: string;

beforeAll(async () => {
  setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '100000' });
  alice = await env.id.jwt('alice', 'ws1');
});
beforeEach(async () => {
  await sqs().send(new PurgeQueueCommand({ QueueUrl: local.current.urls.ingest }));
});

interface Raised {
  body: string;
  event: {
    id: string;
    type: string;
    workspace_id: string;
    occurred_at: string;
    data: Record<string, unknown>;
  };
}

/** The events on the ingest queue (all of them: the queue was purged before the test). */
async function raised(): Promise<Raised[]> {
  const out = await sqs().send(
    new ReceiveMessageCommand({
      QueueUrl: local.current.urls.ingest,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 0,
    }),
  );
  return (out.Messages ?? []).map((m) => ({ body: m.Body ?? '', event: JSON.parse(m.Body ?? '{}') }));
}

/** The tokens of a connection, none of which may appear in an event. */
async function tokensOf(conn: Awaited<ReturnType<typeof connectThroughFlow>>) {
  const stored = (await reload(conn))!;
  return [await openAccessToken(stored), await openRefreshToken(stored)].filter(Boolean) as string[];
}

describe('OAuth operational events', () => {
  it('are catalogued and consumed by the webhooks feature', () => {
    for (const t of ['oauth_connection.refresh_failed', 'oauth_connection.expired']) {
      expect(isKnownEventType(t)).toBe(true);
      expect(webhooks.consumes).toContain(t);
    }
  });

  it('a transient refresh failure raises oauth_connection.refresh_failed, without a token', async () => {
    const conn = await connectThroughFlow(env, alice, 'alice');
    const tokens = await tokensOf(conn);
    env.provider.failNextToken({ status: 500, body: JSON.stringify({ error: 'server_error' }) });
    const res = await invoke(refreshEndpoint, routes.refreshConnection, {
      token: alice,
      params: { id: conn.id },
    });
    expect(res.status).toBe(502);
    const events = await raised();
    expect(events).toHaveLength(1);
    const [{ event, body }] = events as [Raised];
    expect(event).toMatchObject({
      type: 'oauth_connection.refresh_failed',
      workspace_id: 'ws1',
      data: {
        connection_id: conn.id,
        oauth_app_id: 'fake',
        user_id: 'alice',
        status: 'ERROR',
        error: { code: 'server_error' },
        refresh_attempts: 1,
        next_refresh_at: expect.any(String),
      },
    });
    expect(event.id).toMatch(/^evt_/);
    for (const t of tokens) expect(body).not.toContain(t);
    expect(body).not.toMatch(/_sealed|access_token|refresh_token"/);
  });

  it('invalid_grant raises oauth_connection.expired, without a token', async () => {
    const conn = await connectThroughFlow(env, alice, 'alice');
    const tokens = await tokensOf(conn);
    env.provider.revokeAllRefreshTokens();
    const res = await invoke(refreshEndpoint, routes.refreshConnection, {
      token: alice,
      params: { id: conn.id },
    });
    expect(res.status).toBe(502);
    const events = await raised();
    expect(events.map((e) => e.event.type)).toEqual(['oauth_connection.expired']);
    const [{ event, body }] = events as [Raised];
    expect(event).toMatchObject({
      workspace_id: 'ws1',
      data: { connection_id: conn.id, status: 'EXPIRED', error: { code: 'invalid_grant' } },
    });
    expect(event.data.next_refresh_at).toBeUndefined();
    for (const t of tokens) expect(body).not.toContain(t);
    expect((await reload(conn))!.status).toBe('EXPIRED');
  });

  it('a refresh token older than OAUTH_REFRESH_TOKEN_EXPIRY_DAYS raises oauth_connection.expired', async () => {
    setEnv({ OAUTH_REFRESH_TOKEN_EXPIRY_DAYS: '1' });
    try {
      const conn = await connectThroughFlow(env, alice, 'alice');
      const { refreshConnection } = await import('#shared/oauth/refresh.ts');
      const stored = (await reload(conn))!;
      const twoDays = () => new Date(Date.now() + 2 * 86_400_000);
      await expect(refreshConnection(stored, { now: twoDays, force: true })).rejects.toMatchObject({
        status: 409,
      });
      expect((await raised()).map((e) => e.event)).toMatchObject([
        {
          type: 'oauth_connection.expired',
          data: { connection_id: conn.id, error: { code: 'refresh_token_expired' } },
        },
      ]);
    } finally {
      setEnv({ OAUTH_REFRESH_TOKEN_EXPIRY_DAYS: undefined });
    }
  });
});
