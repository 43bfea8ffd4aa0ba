import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closePooledAgents, requestChecked, requestPinned } from '#shared/net/pinned-http.ts';
import { UnsafeTargetError } from '#shared/net/url-guard.ts';
import { useFakeDns } from '#test/helpers/fake-dns.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A local server on 127.0.0.1 that counts connections and records requests. */
async function startServer() {
  const handlers = new Map<string, Handler>();
  const received: { path: string; method: string; host?: string; body: string }[] = [];
  let connections = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      received.push({
        path,
        method: req.method ?? '',
        host: req.headers.host,
        body: Buffer.concat(chunks).toString(),
      });
      const handler = handlers.get(path);
      if (handler) handler(req, res);
      else res.writeHead(404).end();
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    received,
    connections: () => connections,
    on: (path: string, handler: Handler) => handlers.set(path, handler),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const dns = useFakeDns();
let server: Awaited<ReturnType<typeof startServer>>;

beforeAll(async () => {
  server = await startServer();
});
beforeEach(async () => {
  dns.clear();
  await closePooledAgents();
});
afterAll(async () => {
  await closePooledAgents();
  await server?.close();
});

const loopback = { address: '127.0.0.1', family: 4 as const };
const at = (path: string, host = 'pinned.invalid') => new URL(`http://${host}:${server.port}${path}`);
const post = (url: URL, over: Partial<Parameters<typeof requestPinned>[0]> = {}) =>
  requestPinned({
    url,
    address: loopback,
    headers: { 'content-type': 'application/json' },
    body: '{"hello":"world"}',
    timeoutMs: 5000,
    ...over,
  });

describe('requestPinned', () => {
  it('connects to the checked address whatever DNS answers now (a .invalid host reaches 127.0.0.1)', async () => {
    server.on('/pinned', (_q, s) => s.writeHead(204).end());
    dns.answer('pinned.invalid', ['127.0.0.2']); // nothing listens there

    const res = await post(at('/pinned'));

    expect(res.error).toBeUndefined();
    expect(res.status).toBe(204);
    const got = server.received.filter((r) => r.path === '/pinned');
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({
      method: 'POST',
      host: `pinned.invalid:${server.port}`,
      body: '{"hello":"world"}',
    });
    expect(dns.asked.system).toEqual([]);
  });

  it('sends a GET without a body when no body is given', async () => {
    server.on('/get', (_q, s) => s.writeHead(200, { 'content-type': 'text/plain' }).end('fine'));

    const res = await requestPinned({ url: at('/get'), address: loopback, headers: {}, timeoutMs: 5000 });

    expect(res).toMatchObject({ status: 200, body: 'fine', headers: { 'content-type': 'text/plain' } });
    expect(server.received.filter((r) => r.path === '/get')[0]).toMatchObject({ method: 'GET', body: '' });
  });

  it('keeps 30 headers of 512 characters, plus every header named in keepHeaders whatever its position', async () => {
    const link = `<${at('/many?page=2').href}>; rel="next", <${at(`/many?page=9&q=${'x'.repeat(600)}`).href}>; rel="last"`;
    server.on('/many', (_q, s) => {
      // Node refuses response heads over 16 KiB: short fillers, one long value.
      const headers: Record<string, string> = { 'x-filler-00': 'f'.repeat(600) };
      for (let i = 1; i < 40; i++) headers[`x-filler-${String(i).padStart(2, '0')}`] = 'f'.repeat(50);
      s.writeHead(200, {
        ...headers,
        link,
        etag: 'W/"abc"',
        'x-ratelimit-remaining': '4999',
        'x-ratelimit-reset': '1700000000',
      }).end('ok');
    });
    const get = (keepHeaders?: string[]) =>
      requestPinned({ url: at('/many'), address: loopback, headers: {}, timeoutMs: 5000, keepHeaders });

    const plain = await get();
    expect(Object.keys(plain.headers)).toHaveLength(30);
    expect(plain.headers.link).toBeUndefined();
    expect(plain.headers['x-filler-00']).toHaveLength(512);

    const kept = await get(['link', 'etag', 'x-ratelimit-*']);
    expect(kept.headers).toMatchObject({
      link,
      etag: 'W/"abc"',
      'x-ratelimit-remaining': '4999',
      'x-ratelimit-reset': '1700000000',
    });
    expect(link.length).toBeGreaterThan(512);
    expect(Object.keys(kept.headers).filter((k) => k.startsWith('x-filler-'))).toHaveLength(30);
  });

  it('returns a 302 as it is and sends nothing to its Location', async () => {
    server.on('/from', (_q, s) => s.writeHead(302, { location: at('/to').href }).end());
    server.on('/to', (_q, s) => s.writeHead(200).end());

    const res = await post(at('/from'));

    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(at('/to').href);
    expect(server.received.filter((r) => r.path === '/to')).toHaveLength(0);
  });

  it('reuses a kept-alive connection for the same origin and checked address', async () => {
    server.on('/again', (_q, s) => s.writeHead(200).end('ok'));
    const before = server.connections();

    for (let i = 0; i < 3; i++) expect((await post(at('/again'))).status).toBe(200);

    expect(server.connections() - before).toBe(1);
  });

  it('never reuses a connection made for another address of the same origin', async () => {
    server.on('/first', (_q, s) => s.writeHead(200).end('ok'));
    expect((await post(at('/first'))).status).toBe(200);
    const requests = server.received.length;

    // Same origin, but DNS now answers 127.0.0.2 (checked): the idle socket to 127.0.0.1 is not used.
    const res = await post(at('/first'), { address: { address: '127.0.0.2', family: 4 } });

    expect(res.status).toBeUndefined();
    expect(res.error).toBe('Connection refused');
    expect(server.received.length).toBe(requests);
  });

  it('bounds the exchange by timeoutMs, waiting for headers or for the body', async () => {
    server.on('/slow-headers', (_q, s) => setTimeout(() => s.writeHead(200).end(), 2000));
    server.on('/slow-body', (_q, s) => {
      s.writeHead(200);
      s.write('a');
      setTimeout(() => s.end('b'), 2000);
    });

    for (const path of ['/slow-headers', '/slow-body']) {
      const res = await post(at(path), { timeoutMs: 300 });
      expect(res.status, path).toBeUndefined();
      expect(res, path).toMatchObject({ error: 'Timed out after 300 ms', timedOut: true });
      expect(res.durationMs, path).toBeLessThan(1500);
    }
  });

  it('reads at most maxBodyBytes and says the rest was cut', async () => {
    server.on('/big', (_q, s) => s.writeHead(200).end('x'.repeat(100_000)));
    server.on('/exact', (_q, s) => s.writeHead(200).end('y'.repeat(100)));

    const big = await post(at('/big'), { maxBodyBytes: 1000 });
    const exact = await post(at('/exact'), { maxBodyBytes: 100 });
    const byDefault = await post(at('/big'));

    expect(big).toMatchObject({ status: 200, bodyTruncated: true });
    expect(big.body).toHaveLength(1000);
    expect(exact).toMatchObject({ status: 200, bodyTruncated: false, body: 'y'.repeat(100) });
    expect(byDefault.body).toHaveLength(4096);
  });

  it('reports a connection closed mid-body as a reset, not as a response', async () => {
    server.on('/cut', (_q, s) => {
      s.writeHead(200, { 'content-length': '1000' });
      s.write('partial');
      setTimeout(() => s.socket?.destroy(), 50);
    });

    const res = await post(at('/cut'));

    expect(res.status).toBeUndefined();
    expect(res.error).toBe('Connection reset');
  });

  const openssl = spawnSync('openssl', ['version']).status === 0;
  it.skipIf(!openssl)(
    'verifies the certificate over TLS and sends the host name (not the address) as SNI',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pinned-tls-'));
      try {
        const made = spawnSync('openssl', [
          ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
          ...['-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1'],
          ...['-subj', '/CN=pinned.invalid', '-addext', 'subjectAltName=DNS:pinned.invalid'],
        ]);
        expect(made.status, made.stderr.toString()).toBe(0);
        const names: string[] = [];
        const tls = createTlsServer(
          {
            key: readFileSync(join(dir, 'key.pem')),
            cert: readFileSync(join(dir, 'cert.pem')),
            SNICallback: (name, cb) => {
              names.push(name);
              cb(null);
            },
          },
          (_q, s) => s.end('secret'),
        );
        await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
        const port = (tls.address() as AddressInfo).port;

        const res = await post(new URL(`https://pinned.invalid:${port}/`));
        tls.close();

        // Self-signed: not trusted, so nothing is sent or read.
        expect(res.status).toBeUndefined();
        expect(res.error).toBe('Request failed (DEPTH_ZERO_SELF_SIGNED_CERT)');
        expect(names).toEqual(['pinned.invalid']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('requestChecked', () => {
  const dev = { allowLoopback: true };
  const strict = { allowLoopback: false };

  it('refuses a name that resolves to 127.0.0.1 without connecting', async () => {
    dns.answer('evil.invalid', ['127.0.0.1']);
    const before = server.connections();

    const err = await requestChecked(
      `https://evil.invalid:${server.port}/x`,
      { headers: {}, body: '{}', timeoutMs: 2000 },
      { policy: strict },
    ).catch((e) => e);

    expect(err).toBeInstanceOf(UnsafeTargetError);
    expect(err).toMatchObject({ kind: 'refused', message: expect.stringMatching(/127\.0\.0\.1.*loopback/) });
    expect(server.connections()).toBe(before);
  });

  it('connects to the address it checked even though DNS answers otherwise afterwards', async () => {
    server.on('/checked', (_q, s) => s.writeHead(200).end('ok'));
    dns.answer('rebind.invalid', ['127.0.0.1']);
    dns.rebindAfterCheck('rebind.invalid', ['127.0.0.2']); // nothing listens there

    const res = await requestChecked(
      at('/checked', 'rebind.invalid'),
      { headers: {}, body: '{}', timeoutMs: 2000 },
      { policy: dev },
    );

    expect(res).toMatchObject({ status: 200, body: 'ok' });
    expect(dns.asked).toEqual({ guard: ['rebind.invalid'], system: [] });
  });

  it('fails as unresolved when the name does not resolve, before any connection', async () => {
    const before = server.connections();

    const err = await requestChecked(
      at('/x', 'nowhere.invalid'),
      { headers: {}, timeoutMs: 2000 },
      { policy: dev },
    ).catch((e) => e);

    expect(err).toMatchObject({ name: 'UnsafeTargetError', kind: 'unresolved' });
    expect(server.connections()).toBe(before);
  });
});
