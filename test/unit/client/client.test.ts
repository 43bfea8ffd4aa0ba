import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { createClient, ProblemError, verifyWebhook, WebhookVerificationError } from '#shared/client/index.ts';

/** A fetch that records the request and answers `reply`. */
function fakeFetch(reply: () => Response) {
  const seen: Request[] = [];
  const fetch = async (req: Request) => {
    seen.push(req);
    return reply();
  };
  return { fetch, seen };
}

const problem = {
  type: 'https://docs.pronaflow.com/integration/problems/validation-failed',
  title: 'Validation failed',
  status: 400,
  detail: 'The request is invalid.',
  errors: [{ path: 'body.name', message: 'Too short' }],
};

describe('createClient', () => {
  it('sends the bearer token and X-Workspace-Id, and returns { error: Problem } on a problem answer', async () => {
    const f = fakeFetch(
      () =>
        new Response(JSON.stringify(problem), {
          status: 400,
          headers: { 'content-type': 'application/problem+json' },
        }),
    );
    const api = createClient({ baseUrl: 'http://svc/', token: 't0k', workspaceId: 'ws9', fetch: f.fetch });
    const res = await api.GET('/v1/integration/tokens');
    expect(f.seen[0]?.url).toBe('http://svc/v1/integration/tokens');
    expect(f.seen[0]?.headers.get('authorization')).toBe('Bearer t0k');
    expect(f.seen[0]?.headers.get('x-workspace-id')).toBe('ws9');
    expect(res.data).toBeUndefined();
    expect(res.error).toEqual(problem);
  });

  it('throwing mode throws a ProblemError with status, type, detail and errors[]', async () => {
    const f = fakeFetch(
      () =>
        new Response(JSON.stringify(problem), {
          status: 400,
          headers: { 'content-type': 'application/problem+json' },
        }),
    );
    const api = createClient({ baseUrl: 'http://svc', token: 't', fetch: f.fetch, throwOnError: true });
    const err = await api.GET('/v1/integration/tokens').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProblemError);
    expect(err).toMatchObject({
      status: 400,
      type: problem.type,
      detail: problem.detail,
      errors: problem.errors,
      message: '400 Validation failed: The request is invalid.',
    });
  });

  it('shapes a non-problem error body (a proxy page) as a Problem', async () => {
    const f = fakeFetch(
      () => new Response('<html>Bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }),
    );
    const api = createClient({ baseUrl: 'http://svc', fetch: f.fetch, throwOnError: true });
    const err = (await api.GET('/v1/integration/health').catch((e: unknown) => e)) as ProblemError;
    expect(err).toBeInstanceOf(ProblemError);
    expect(err).toMatchObject({ status: 502, type: 'about:blank', title: 'Bad Gateway', errors: [] });
  });

  it('returns { data } on success in both modes', async () => {
    const f = fakeFetch(
      () =>
        new Response(JSON.stringify({ status: 'ok' }), { headers: { 'content-type': 'application/json' } }),
    );
    const plain = await createClient({ baseUrl: 'http://svc', fetch: f.fetch }).GET('/v1/integration/health');
    expect(plain.data).toEqual({ status: 'ok' });
    const strict = await createClient({ baseUrl: 'http://svc', fetch: f.fetch, throwOnError: true }).GET(
      '/v1/integration/health',
    );
    expect(strict.data).toEqual({ status: 'ok' });
  });
});

describe('verifyWebhook', () => {
  const secret = `whsec_${Buffer.from('a-test-secret-of-enough-bytes!!').toString('base64')}`;
  const body = JSON.stringify({ type: 'task.created', data: { task_id: 't1' } });
  const headers = () => {
    const now = new Date();
    return {
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign('msg_1', now, body),
    };
  };

  it('returns the payload of a correctly signed delivery (plain object, Node headers or Headers)', () => {
    expect(verifyWebhook(secret, headers(), body)).toEqual(JSON.parse(body));
    const upper = Object.fromEntries(Object.entries(headers()).map(([k, v]) => [k.toUpperCase(), v]));
    expect(verifyWebhook(secret, upper, Buffer.from(body))).toEqual(JSON.parse(body));
    expect(verifyWebhook(secret, new Headers(headers()), body)).toEqual(JSON.parse(body));
  });

  it('throws WebhookVerificationError on a changed body, a wrong secret or a stale timestamp', () => {
    expect(() => verifyWebhook(secret, headers(), body.replace('t1', 't2'))).toThrow(
      WebhookVerificationError,
    );
    const other = `whsec_${Buffer.from('another-secret-of-enough-bytes!').toString('base64')}`;
    expect(() => verifyWebhook(other, headers(), body)).toThrow(WebhookVerificationError);
    const old = new Date(Date.now() - 10 * 60_000);
    const stale = {
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(Math.floor(old.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign('msg_1', old, body),
    };
    expect(() => verifyWebhook(secret, stale, body)).toThrow(WebhookVerificationError);
    expect(() => verifyWebhook(secret, {}, body)).toThrow(WebhookVerificationError);
  });
});
