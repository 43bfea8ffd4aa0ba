/**
 * AWS X-Ray tracing through Powertools Tracer. Functions run with active tracing (the stack), so
 * Lambda opens each invocation's segment; here:
 * - {@link traced} wraps an AWS SDK v3 client so each call is a subsegment (the clients are made in
 *   shared/db/client.ts, shared/queues.ts, shared/secrets.ts, shared/objects.ts);
 * - outbound HTTP(S) is NOT captured by Tracer (`captureHTTPsRequests: false`): its http/https and
 *   `fetch` capture records each request's full URL, and the URLs the service calls carry secrets
 *   in their path or query (a Slack-style webhook URL, an OAuth callback's code). The one outbound
 *   client (shared/net/pinned-http.ts) opens its own subsegment instead, {@link inHttpSubsegment}:
 *   named by the host, with the method and status only — never a path, query or header;
 * - {@link inSubsegment} gives the handler kits one subsegment per invocation, annotated with the
 *   route or worker and the correlation id (searchable: `annotation.correlation_id = "…"`); an error
 *   is recorded by its class name and code only (its message and stack may hold what the logger
 *   redacts, and X-Ray is outside the logger's redaction).
 *
 * Off where there is no X-Ray daemon: outside Lambda Tracer would turn itself off, and the local
 * runtime and the tests set POWERTOOLS_TRACE_ENABLED=false; then Tracer is not even loaded
 * ({@link tracingWanted}) and every helper here is a pass-through.
 */
import type { Tracer } from '@aws-lambda-powertools/tracer';

/**
 * Whether Tracer would trace here, decided as Tracer decides it (POWERTOOLS_TRACE_ENABLED not
 * `false`, in a Lambda execution environment that is neither SAM nor Amplify's mock), before it
 * is loaded: loading it loads the X-Ray SDK, whose context (cls-hooked) hooks every promise of
 * the process, a cost of its own (in the local delivery pipeline, a third of the Node CPU per
 * delivery) that a process which does not trace has no reason to pay.
 */
function tracingWanted(env = process.env): boolean {
  if ((env.POWERTOOLS_TRACE_ENABLED ?? '').toLowerCase() === 'false') return false;
  const execution = env.AWS_EXECUTION_ENV ?? '';
  return execution !== '' && execution !== 'AWS_Lambda_amplify-mock' && !env.AWS_SAM_LOCAL;
}

/** The process-wide tracer (POWERTOOLS_SERVICE_NAME names the service); undefined when tracing is off. */
export const tracer: Tracer | undefined = tracingWanted()
  ? new (await import('@aws-lambda-powertools/tracer')).Tracer({
      serviceName: process.env.POWERTOOLS_SERVICE_NAME || 'pronaflow-integrations',
      // No automatic http/https/fetch capture: it records full URLs (see above).
      captureHTTPsRequests: false,
    })
  : undefined;

/** What an error may show in a trace: its class name and code, never its message or stack. */
export function traceableError(err: unknown): { name: string; message: string } {
  const name = err instanceof Error ? err.name || err.constructor.name : typeof err;
  const raw = (err as { code?: unknown } | null)?.code;
  const code = typeof raw === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(raw) ? raw : undefined;
  return { name, message: code ? `${name} (${code})` : name };
}

/** `client` with its calls traced (returned as is when tracing is off). */
export function traced<C>(client: C): C {
  return tracer?.isTracingEnabled() ? tracer.captureAWSv3Client(client) : client;
}

/**
 * Runs `fn` in a subsegment `## <name>` of the invocation's segment, annotated with `annotations`
 * (an error is recorded on it by {@link traceableError}); just runs `fn` when tracing is off or
 * there is no segment.
 */
export async function inSubsegment<T>(
  name: string,
  annotations: Record<string, string | undefined>,
  fn: () => Promise<T>,
): Promise<T> {
  const parent = tracer?.isTracingEnabled() ? tracer.getSegment() : undefined;
  if (!tracer || !parent) return fn();
  const sub = parent.addNewSubsegment(`## ${name}`);
  tracer.setSegment(sub);
  tracer.annotateColdStart();
  tracer.addServiceNameAnnotation();
  for (const [k, v] of Object.entries(annotations)) if (v) tracer.putAnnotation(k, v);
  try {
    return await fn();
  } catch (err) {
    sub.addError(traceableError(err) as Error);
    throw err;
  } finally {
    sub.close();
    tracer.setSegment(parent);
  }
}

/**
 * Runs one outbound HTTP exchange `fn` in a remote subsegment named by `url`'s host, annotated with
 * the host, the method and the answer's status (error flag on 4xx, throttle on 429, fault on 5xx or
 * no answer). Nothing else of the URL (path, query, user info) nor any header is recorded. Just
 * runs `fn` when tracing is off or there is no segment.
 */
export async function inHttpSubsegment<T extends { status?: number; timedOut?: boolean }>(
  url: URL,
  method: string,
  fn: () => Promise<T>,
): Promise<T> {
  const parent = tracer?.isTracingEnabled() ? tracer.getSegment() : undefined;
  if (!parent) return fn();
  const sub = parent.addNewSubsegment(url.hostname);
  (sub as { namespace?: string }).namespace = 'remote';
  sub.addAnnotation('http_host', url.host);
  sub.addAnnotation('http_method', method);
  try {
    const out = await fn();
    if (out.status !== undefined) {
      sub.addAnnotation('http_status', out.status);
      if (out.status === 429) sub.addThrottleFlag();
      if (out.status >= 400 && out.status < 500) sub.addErrorFlag();
      else if (out.status >= 500) sub.addFaultFlag();
    } else {
      sub.addAnnotation('http_failed', out.timedOut ? 'timeout' : 'no response');
      sub.addFaultFlag();
    }
    return out;
  } catch (err) {
    sub.addError(traceableError(err) as Error);
    throw err;
  } finally {
    sub.close();
  }
}
