import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closePooledAgents, postPinned } from '#shared/net/pinned-http.ts';
import { type Receiver, startReceiver } from '#test/integration/webhooks/webhooks-harness.ts';

let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await closePooledAgents();
  await receiver?.close();
});

const loopback = { address: '127.0.0.1', family: 4 as const };
const post = (url: string) =>
  postPinned({
    url: new URL(url),
    address: loopback,
    headers: { 'content-type': 'application/json' },
    body: '{"hello":"world"}',
    timeoutMs: 5000,
  });

describe('postPinned', () => {
  it('connects to the checked address without asking DNS (a .invalid host reaches 127.0.0.1)', async () => {
    receiver.on('/pinned', () => ({ status: 204 }));

    const res = await post(`http://pinned.invalid:${receiver.port}/pinned`);

    expect(res.error).toBeUndefined();
    expect(res.status).toBe(204);
    const got = receiver.received.filter((r) => r.path === '/pinned');
    expect(got).toHaveLength(1);
    expect(got[0]?.headers.host).toBe(`pinned.invalid:${receiver.port}`);
    expect(got[0]?.body).toBe('{"hello":"world"}');
  });

  it('returns a 302 as it is and sends nothing to its Location', async () => {
    receiver.on('/from', () => ({ status: 302, headers: { location: receiver.url('/to') } }));
    receiver.on('/to', () => ({ status: 200 }));

    const res = await post(receiver.url('/from'));

    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(receiver.url('/to'));
    expect(receiver.received.filter((r) => r.path === '/to')).toHaveLength(0);
  });

  it('bounds the exchange by timeoutMs', async () => {
    receiver.on('/slow', () => ({ status: 200, delayMs: 2000 }));

    const res = await postPinned({
      url: new URL(receiver.url('/slow')),
      address: loopback,
      headers: {},
      body: '{}',
      timeoutMs: 300,
    });

    expect(res.status).toBeUndefined();
    expect(res.error).toBe('Timed out after 300 ms');
  });
});
