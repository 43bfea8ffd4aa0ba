import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { routeList } from '#functions/features.ts';
import { config } from '#shared/config.ts';
import { allowedOrigin, CORS } from '#shared/http/cors.ts';
import { fallbackResponse } from '#shared/http/fallback.ts';
import { fullPath, type RouteDef, routeGrants } from '#shared/http/route.ts';
import { compileRoutes, matchRoute } from '#shared/http/router.ts';
import { runWithGrants } from '#shared/runtime-grants.ts';
import { httpApiEvent, lambdaContext } from './lambda-event.ts';

/** API Gateway's payload limit. */
const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

type Handler = (event: unknown, context: unknown) => Promise<APIGatewayProxyStructuredResultV2>;

const modules = new Map<string, Promise<Handler>>();

/** Loads a function's handler the way Lambda would: the module's `handler` export, once per process. */
export function loadHandler(handlerPath: string): Promise<Handler> {
  let mod = modules.get(handlerPath);
  if (!mod) {
    // A file URL with @vite-ignore: vitest's dynamic-import-vars transform only handles paths one
    // folder deep, and handlers live in functions/<feature>/.
    const url = new URL(`../../functions/${handlerPath}.ts`, import.meta.url).href;
    mod = import(/* @vite-ignore */ url).then((m: { handler?: Handler }) => {
      if (typeof m.handler !== 'function') throw new Error(`functions/${handlerPath}.ts exports no handler`);
      return m.handler;
    });
    modules.set(handlerPath, mod);
  }
  return mod;
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        resolve(undefined);
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Writes a Lambda result; like API Gateway with a CORS policy, CORS headers go on every response. */
function send(res: ServerResponse, result: APIGatewayProxyStructuredResultV2, origin: string | undefined) {
  const body = result.body ?? '';
  const allow = allowedOrigin(origin, config().CORS_ALLOWED_ORIGINS);
  const cors = allow
    ? { 'Access-Control-Allow-Origin': allow, 'Access-Control-Expose-Headers': CORS.exposeHeaders.join(', ') }
    : {};
  res.writeHead(result.statusCode ?? 200, { ...(result.headers as Record<string, string>), ...cors });
  res.end(result.isBase64Encoded ? Buffer.from(body, 'base64') : body);
}

/**
 * The local HTTP API: every request becomes a payload-2.0 event for its route's own Lambda
 * handler, exactly as API Gateway would invoke it; unknown routes go to the same fallback as the
 * `$default` route in AWS. Requests wait for `ready` (the rest of the stack starting).
 */
export function createHttpApi(
  routes: RouteDef[] = routeList,
  ready: Promise<unknown> = Promise.resolve(),
): Server {
  const compiled = compileRoutes(routes);
  return createServer(async (req, res) => {
    try {
      // Requests that arrive while the stack is still starting wait until it is ready.
      await ready;
      const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
      const method = req.method ?? 'GET';
      if (method === 'OPTIONS') {
        const allow = allowedOrigin(req.headers.origin, config().CORS_ALLOWED_ORIGINS);
        res.writeHead(
          204,
          allow
            ? {
                'Access-Control-Allow-Origin': allow,
                'Access-Control-Allow-Methods': CORS.allowMethods.join(', '),
                'Access-Control-Allow-Headers': CORS.allowHeaders.join(', '),
                'Access-Control-Max-Age': String(CORS.maxAgeSeconds),
              }
            : {},
        );
        res.end();
        return;
      }
      const body = await readBody(req);
      if (body === undefined) {
        res.writeHead(413, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ message: 'Request Entity Too Large' }));
        return;
      }
      const match = matchRoute(compiled, method, url.pathname);
      if (match.kind !== 'found') {
        const event = httpApiEvent({ req, url, body, routeKey: '$default' });
        send(
          res,
          fallbackResponse(event, match.kind === 'method-not-allowed' ? match.allow : []),
          req.headers.origin,
        );
        return;
      }
      const { def } = match.route;
      const event = httpApiEvent({
        req,
        url,
        body,
        routeKey: `${def.method} ${fullPath(def)}`,
        pathParameters: match.params,
      });
      const handler = await loadHandler(def.handler);
      // With exactly the permissions the stack grants this route's Lambda.
      const result = await runWithGrants(routeGrants(def), () => handler(event, lambdaContext(def.id)));
      send(res, result, req.headers.origin);
    } catch (err) {
      // What API Gateway answers when a Lambda crashes.
      console.error('local runtime: handler crashed', err);
      res.writeHead(500, { 'Content-Type': 'application/json', 'X-Request-Id': randomUUID() });
      res.end(JSON.stringify({ message: 'Internal Server Error' }));
    }
  });
}
