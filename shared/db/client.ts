import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { config } from '#shared/config.ts';
import { assertGranted, dynamoGrant } from '#shared/runtime-grants.ts';
import { traced } from '#shared/tracing.ts';
import { assertAppendOnly } from './append-only.ts';

let doc: DynamoDBDocumentClient | undefined;

/**
 * The process-wide DynamoDB document client, created on first use (so tests and the local
 * runtime can set the endpoint first) and reused across invocations.
 */
export function db(): DynamoDBDocumentClient {
  if (!doc) {
    const cfg = config();
    const raw = new DynamoDBClient(
      cfg.DYNAMODB_ENDPOINT
        ? {
            endpoint: cfg.DYNAMODB_ENDPOINT,
            region: process.env.AWS_REGION ?? 'local',
            credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
          }
        : {},
    );
    // Where AWS is emulated, IAM is too: each call must be covered by the invocation's grants.
    raw.middlewareStack.add(
      (next, context) => (args) => {
        const command = context.commandName ?? 'unknown';
        assertGranted(`DynamoDB ${command}`, dynamoGrant(command));
        assertAppendOnly(command, args.input);
        return next(args);
      },
      { step: 'initialize', name: 'runtimeGrants' },
    );
    doc = DynamoDBDocumentClient.from(traced(raw), { marshallOptions: { removeUndefinedValues: true } });
  }
  return doc;
}

/** The table every repository reads and writes. */
export function tableName(): string {
  return config().TABLE_NAME;
}

/** Drops the cached client (tests switch endpoints between files). */
export function resetDb(): void {
  doc = undefined;
}
