/**
 * What reaches X-Ray, with tracing on and a stand-in daemon (a UDP socket on 127.0.0.1 that
 * receives the segment documents the X-Ray SDK sends): an outbound request through the pinned
 * client is a subsegment of its host with method and status, no other http(s) call is captured,
 * and neither the URL's path nor its query (where a webhook URL carries its secret) appears anywhere in the documents; an invocation's
 * error shows its class name and code, never its message or stack.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const SECRET_PATH = '/services/T0SECRET/B0SECRET/hunter2tokenSECRET';
const SECRET_QUERY = 'sig=querySECRET';
const SECRET_MESSAGE = 'password=errorSECRET';

let daemon: Socket;
let packets: string[];
let server: Server;
let port: number;
type Modules = {
  tracing: typeof import('#shared/tracing.ts');
  http: typeof import('#shared/net/pinned-http.ts');
  xray: typeof import('aws-xray-sdk-core');
};
let m: Modules;

beforeAll(async () => {
  packets = [];
  daemon = createSocket('udp4');
  daemon.on('message', (msg) => packets.push(msg.toString('utf8')));
  await new Promise<void>((resolve) => daemon.bind(0, '127.0.0.1', resolve));
  const daemonAddress = `127.0.0.1:${(daemon.address() as AddressInfo).port}`;
  server = createServer((req, res) => {
    res.statusCode = req.url?.includes('fail') ? 503 : 200;
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;

  // Tracing on as in Lambda (the tracer reads these when its module loads).
  vi.stubEnv('POWERTOOLS_TRACE_ENABLED', 'true');
  vi.stubEnv('AWS_EXECUTION_ENV', 'AWS_Lambda_nodejs24.x');
  vi.stubEnv('AWS_XRAY_DAEMON_ADDRESS', daemonAddress);
  vi.stubEnv('AWS_XRAY_CONTEXT_MISSING', 'IGNORE_ERROR');
  vi.resetModules();
  m = {
    tracing: await import('#shared/tracing.ts'),
    http: await import('#shared/net/pinned-http.ts'),
    xray: await import('aws-xray-sdk-core'),
  };
  m.xray.setDaemonAddress(daemonAddress);
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await m?.http.closePooledAgents();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  daemon?.close();
});

/** Runs `fn` under a fresh root segment, closes it and returns every document the daemon got. */
async function traced(fn: () => Promise<void>): Promise<Record<string, unknown>[]> {
  packets.length = 0;
  const segment = new m.xray.Segment('tracing-test');
  // The SDK keeps the current segment in its async context, as in a Lambda invocation.
  await m.xray.getNamespace().runPromise(async () => {
    const { tracer } = m.tracing;
    if (!tracer) throw new Error('tracing should be on in this test');
    tracer.setSegment(segment);
    try {
      await fn();
    } finally {
      segment.close();
    }
  });
  for (let i = 0; i < 50 && !packets.some((p) => p.includes('"tracing-test"')); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  // Each packet: a JSON header line, then the document.
  return packets.map((p) => JSON.parse(p.slice(p.indexOf('\n') + 1)) as Record<string, unknown>);
}

type Doc = {
  name: string;
  namespace?: string;
  annotations?: Record<string, unknown>;
  fault?: boolean;
  error?: boolean;
  subsegments?: Doc[];
};
const allSubsegments = (docs: Doc[]): Doc[] =>
  docs.flatMap((d) => [d, ...allSubsegments(d.subsegments ?? [])]);

describe('X-Ray documents', () => {
  it('an outbound request is a subsegment of its host with method and status; no path or query anywhere', async () => {
    const docs = await traced(async () => {
      const url = new URL(`http://127.0.0.1:${port}${SECRET_PATH}?${SECRET_QUERY}`);
      const address = { address: '127.0.0.1', family: 4 as const };
      const ok = await m.http.requestPinned({ url, address, headers: {}, body: '{}', timeoutMs: 2000 });
      expect(ok.status).toBe(200);
      const failed = await m.http.requestPinned({
        url: new URL(`http://127.0.0.1:${port}/fail${SECRET_PATH}`),
        address,
        headers: { authorization: 'Bearer headerSECRET' },
        timeoutMs: 2000,
      });
      expect(failed.status).toBe(503);
      // Any other http(s) caller (through the module object, which Tracer's capture patches) is
      // not captured either: that capture records the full URL.
      const { default: http } = await import('node:http');
      await new Promise<void>((resolve, reject) =>
        http
          .get(`http://127.0.0.1:${port}${SECRET_PATH}?${SECRET_QUERY}`, (res) => {
            res.resume();
            res.on('end', resolve);
          })
          .on('error', reject),
      );
    });
    const text = JSON.stringify(docs);
    expect(text).not.toContain('SECRET');
    const remote = allSubsegments(docs as Doc[]).filter((d) => d.namespace === 'remote');
    expect(remote.map((d) => d.name)).toEqual(['127.0.0.1', '127.0.0.1']);
    expect(remote.map((d) => d.annotations)).toEqual([
      { http_host: `127.0.0.1:${port}`, http_method: 'POST', http_status: 200 },
      { http_host: `127.0.0.1:${port}`, http_method: 'GET', http_status: 503 },
    ]);
    expect(remote[1]?.fault).toBe(true);
  });

  it("an invocation's error shows its class name and code, not its message or stack", async () => {
    class ProviderError extends Error {
      override name = 'ProviderError';
      code = 'E_PROVIDER';
    }
    const docs = await traced(async () => {
      await expect(
        m.tracing.inSubsegment('probe-worker', { worker: 'probe-worker' }, async () => {
          throw new ProviderError(SECRET_MESSAGE);
        }),
      ).rejects.toThrow(SECRET_MESSAGE);
    });
    const text = JSON.stringify(docs);
    expect(text).not.toContain('SECRET');
    expect(text).not.toContain('tracing.test.ts'); // no stack frames
    const sub = allSubsegments(docs as Doc[]).find((d) => d.name === '## probe-worker');
    expect(sub?.fault).toBe(true);
    expect(text).toContain('ProviderError (E_PROVIDER)');
  });
});
