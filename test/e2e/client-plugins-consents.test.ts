import { describe, expect, it } from 'vitest';
import { createClient, ProblemError } from '#shared/client/index.ts';
import { useLocalStack } from '#test/helpers/local-stack.ts';

/** The typed client (shared/client) against the running local stack: plugins and consents walk-throughs. */
const e2e = useLocalStack('client-plugins-consents');

describe('typed client: plugins', () => {
  it('lists the catalog, installs markdown-editor with a configuration, sees it installed, uninstalls it', async () => {
    const api = createClient({ baseUrl: e2e.stack.baseUrl, token: await e2e.session(), throwOnError: true });

    const { data: found } = await api.GET('/v1/integration/plugins', {
      params: { query: { q: 'markdown' } },
    });
    expect(found.data.map((p) => p.id)).toContain('markdown-editor');

    const { data: installed, response } = await api.POST('/v1/integration/plugins/{id}/install', {
      params: { path: { id: 'markdown-editor' } },
      body: { workspace_id: 'ws1', configuration: { toolbar: 'full', theme: 'dark' } },
    });
    expect(response.status).toBe(201);
    expect(installed).toMatchObject({ status: 'ACTIVE' });

    const { data: mine } = await api.GET('/v1/integration/plugins/installed');
    expect(JSON.stringify(mine)).toContain('markdown-editor');

    // A configuration the plugin's schema refuses is a typed 400 problem listing the field.
    const bad = await api.raw.PATCH('/v1/integration/plugins/{id}/config', {
      params: { path: { id: 'markdown-editor' } },
      body: { configuration: { toolbar: 'nope' } },
    });
    expect(bad.error?.status).toBe(400);

    await api.DELETE('/v1/integration/plugins/{id}/uninstall', {
      params: { path: { id: 'markdown-editor' } },
    });
    const { data: after } = await api.GET('/v1/integration/plugins/installed');
    expect(
      after.data.filter((i) => JSON.stringify(i).includes('markdown-editor') && i.status === 'ACTIVE'),
    ).toEqual([]);
  });
});

describe('typed client: consents', () => {
  it('grants a consent, reads the status, revokes it (idempotent) and verifies the audit trail', async () => {
    const api = createClient({
      baseUrl: e2e.stack.baseUrl,
      token: await e2e.session('u7', [{ id: 'ws7', role: 'member' }]),
      throwOnError: true,
    });
    const { data: granted, response } = await api.POST('/v1/integration/consents', {
      body: {
        consent_type: 'THIRD_PARTY',
        resource_type: 'slack_integration',
        resource_id: 'slack_conn_123',
        description: 'Grant access to sync tasks to Slack',
      },
    });
    expect(response.status).toBe(201);
    expect(granted.status).toBe('GRANTED');

    const { data: status } = await api.GET('/v1/integration/consents/status');
    expect(JSON.stringify(status)).toContain('GRANTED');

    const { data: revoked } = await api.DELETE('/v1/integration/consents/{id}', {
      params: { path: { id: granted.id } },
    });
    expect(revoked.status).toBe('REVOKED');
    const { data: again } = await api.DELETE('/v1/integration/consents/{id}', {
      params: { path: { id: granted.id } },
    });
    expect(again.status).toBe('REVOKED');

    const { data: verify } = await api.GET('/v1/integration/consents/audit/verify');
    expect(verify).toMatchObject({ valid: true });

    const err = await api
      .POST('/v1/integration/consents', {
        // @ts-expect-error: not a consent type, refused by the types and by the service
        body: { consent_type: 'NOPE', resource_type: 'x', resource_id: 'y' },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProblemError);
    expect((err as ProblemError).errors.map((e) => e.path)).toContain('body.consent_type');
  });
});
