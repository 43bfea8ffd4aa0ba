import type { TestProject } from 'vitest/node';
import { startDynamo } from '#infra/local/dynamo.ts';

/**
 * Starts one DynamoDB Local for the whole run (each test file then creates its own table, see
 * `useTestTable`). SQS emulators are cheap and start per file (`startTestSqs`).
 */
export default async function setup(project: TestProject) {
  const dynamo = await startDynamo();
  project.provide('dynamoEndpoint', dynamo.endpoint);
  return async () => {
    await dynamo.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoEndpoint: string;
  }
}
