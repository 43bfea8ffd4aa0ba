/**
 * Workers that run once after each deployment (`trigger: { afterDeploy: true }`). In AWS the
 * feature's stack holds a custom resource whose service token is the worker's own function:
 * CloudFormation invokes it on create and on every update (its properties carry the function's
 * code hash, so a code change runs it again) and waits for the answer the function PUTs to the
 * presigned `ResponseURL`; a failure fails (and rolls back) the deployment. On delete it answers
 * at once, doing nothing. Locally, the runtime calls the handler once at start, with no event.
 */
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { config } from '#shared/config.ts';
import { logger } from '#shared/logger.ts';

const isCustomResourceEvent = (e: unknown): e is CloudFormationCustomResourceEvent =>
  typeof e === 'object' && e !== null && 'RequestType' in e && 'ResponseURL' in e;

async function answer(
  event: CloudFormationCustomResourceEvent,
  status: 'SUCCESS' | 'FAILED',
  reason?: string,
): Promise<void> {
  const body = JSON.stringify({
    Status: status,
    Reason: reason ?? 'See the function log',
    PhysicalResourceId: 'PhysicalResourceId' in event ? event.PhysicalResourceId : event.LogicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
  });
  // The presigned S3 URL takes the answer as is: no content type (it is part of the signature).
  const res = await fetch(event.ResponseURL, { method: 'PUT', body, headers: { 'content-type': '' } });
  if (!res.ok) throw new Error(`CloudFormation did not take the answer: HTTP ${res.status}`);
}

/**
 * The code the stack deployed this function with (its asset key, set by the stack as
 * AFTER_DEPLOY_CODE). A request whose `Code` property differs is a rollback to other code: the job
 * of that code ran when it was deployed, so this one answers without running.
 */
const deployedCode = () => process.env.AFTER_DEPLOY_CODE;

/** Builds an after-deploy worker's handler around `run` (which must be idempotent). */
export function afterDeployWorker<T>(name: string, run: () => Promise<T>) {
  return async (event?: unknown): Promise<T | undefined> => {
    logger.resetKeys();
    logger.appendKeys({ worker: name });
    if (!isCustomResourceEvent(event)) {
      config(); // a bad setting fails loudly, naming the variable
      return run();
    }
    // Answered before anything that can fail: a stack must always be deletable.
    const code = (event.ResourceProperties as { Code?: string }).Code;
    if (event.RequestType === 'Delete' || (deployedCode() && code !== deployedCode())) {
      await answer(
        event,
        'SUCCESS',
        event.RequestType === 'Delete' ? 'Nothing to undo' : 'Rolled back: nothing to run',
      );
      return undefined;
    }
    try {
      config();
      const result = await run();
      logger.info('after-deploy job done', { result: result as Record<string, unknown> });
      await answer(event, 'SUCCESS');
      return result;
    } catch (err) {
      logger.error('after-deploy job failed', { error: err as Error });
      // The reason shows in the stack's events: the error's message only (never a value it handled).
      await answer(event, 'FAILED', `${name} failed: ${(err as Error).message}`.slice(0, 500));
      return undefined;
    }
  };
}
