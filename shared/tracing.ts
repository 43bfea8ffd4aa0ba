/**
 * AWS X-Ray tracing through Powertools Tracer. Functions run with active tracing (the stack), so
 * Lambda opens each invocation's segment; here:
 * - {@link traced} wraps an AWS SDK v3 client so each call is a subsegment (the clients are made in
 *   shared/db/client.ts, shared/queues.ts, shared/secrets.ts, shared/objects.ts);
 * - outbound HTTP(S) (shared/net, OAuth and webhook calls) is traced by Tracer itself (it patches
 *   `http`/`https` and follows `fetch`), so nothing is wrapped there;
 * - {@link inSubsegment} gives the handler kits one subsegment per invocation, annotated with the
 *   route or worker and the correlation id (searchable: `annotation.correlation_id = "…"`).
 *
 * Off where there is no X-Ray daemon: outside Lambda Tracer turns itself off, and the local runtime
 * and the tests set POWERTOOLS_TRACE_ENABLED=false; then every helper here is a pass-through.
 */
import { Tracer } from '@aws-lambda-powertools/tracer';

/** The process-wide tracer (POWERTOOLS_SERVICE_NAME names the service). */
export const tracer = new Tracer({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME || 'pronaflow-integrations',
});

/** `client` with its calls traced (returned as is when tracing is off). */
export function traced<C>(client: C): C {
  return tracer.isTracingEnabled() ? tracer.captureAWSv3Client(client) : client;
}

/**
 * Runs `fn` in a subsegment `## <name>` of the invocation's segment, annotated with `annotations`
 * (an error is recorded on it); just runs `fn` when tracing is off or there is no segment.
 */
export async function inSubsegment<T>(
  name: string,
  annotations: Record<string, string | undefined>,
  fn: () => Promise<T>,
): Promise<T> {
  const parent = tracer.isTracingEnabled() ? tracer.getSegment() : undefined;
  if (!parent) return fn();
  const sub = parent.addNewSubsegment(`## ${name}`);
  tracer.setSegment(sub);
  tracer.annotateColdStart();
  tracer.addServiceNameAnnotation();
  for (const [k, v] of Object.entries(annotations)) if (v) tracer.putAnnotation(k, v);
  try {
    return await fn();
  } catch (err) {
    sub.addError(err as Error);
    throw err;
  } finally {
    sub.close();
    tracer.setSegment(parent);
  }
}
