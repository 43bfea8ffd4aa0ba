import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { afterDeployWorker } from '#shared/after-deploy.ts';

/** A stand-in for CloudFormation's presigned response URL: records what the function PUTs. */
let server: Server;
let url: string;
const answers: { method?: string; body: Record<string, string> }[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      answers.push({ method: req.method, body: JSON.parse(body) });
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/answer`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const event = (RequestType: string) => ({
  RequestType,
  ResponseURL: url,
  StackId: 'arn:aws:cloudformation:us-east-1:1:stack/s/1',
  RequestId: 'r1',
  LogicalResourceId: 'SeedAfterDeploy',
  ResourceType: 'Custom::AfterDeploy',
  ServiceToken: 'arn:fn',
  ResourceProperties: { ServiceToken: 'arn:fn' },
  ...(RequestType === 'Create' ? {} : { PhysicalResourceId: 'SeedAfterDeploy' }),
});

describe('afterDeployWorker', () => {
  it('runs the job on create and update and answers SUCCESS', async () => {
    let runs = 0;
    const handler = afterDeployWorker('job', async () => ++runs);
    answers.length = 0;
    await handler(event('Create'));
    await handler(event('Update'));
    expect(runs).toBe(2);
    expect(answers.map((a) => [a.method, a.body.Status, a.body.RequestId])).toEqual([
      ['PUT', 'SUCCESS', 'r1'],
      ['PUT', 'SUCCESS', 'r1'],
    ]);
    expect(answers[0]!.body.PhysicalResourceId).toBe('SeedAfterDeploy');
  });

  it('answers FAILED with the error when the job throws, and does nothing on delete', async () => {
    let runs = 0;
    const failing = afterDeployWorker('job', async () => {
      runs++;
      throw new Error('table missing');
    });
    answers.length = 0;
    await failing(event('Update'));
    await failing(event('Delete'));
    expect(runs).toBe(1);
    expect(answers.map((a) => a.body.Status)).toEqual(['FAILED', 'SUCCESS']);
    expect(answers[0]!.body.Reason).toContain('table missing');
  });

  it('answers a rollback to other code without running (the old code ran when it was deployed)', async () => {
    let runs = 0;
    const handler = afterDeployWorker('job', async () => ++runs);
    answers.length = 0;
    process.env.AFTER_DEPLOY_CODE = 'new.zip';
    try {
      await handler({ ...event('Update'), ResourceProperties: { ServiceToken: 'arn:fn', Code: 'old.zip' } });
      await handler({ ...event('Update'), ResourceProperties: { ServiceToken: 'arn:fn', Code: 'new.zip' } });
    } finally {
      delete process.env.AFTER_DEPLOY_CODE;
    }
    expect(runs).toBe(1);
    expect(answers.map((a) => a.body.Status)).toEqual(['SUCCESS', 'SUCCESS']);
  });

  it('just runs the job when called without a CloudFormation event (the local runtime)', async () => {
    const handler = afterDeployWorker('job', async () => 'done');
    answers.length = 0;
    expect(await handler()).toBe('done');
    expect(answers).toEqual([]);
  });
});
