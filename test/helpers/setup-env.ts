import { inject } from 'vitest';

// Every test process talks to the run's DynamoDB Local, never to AWS.
process.env.DYNAMODB_ENDPOINT = inject('dynamoEndpoint');
process.env.AWS_REGION = 'us-east-1';
process.env.AWS_ACCESS_KEY_ID = 'test';
process.env.AWS_SECRET_ACCESS_KEY = 'test';
process.env.LOG_LEVEL = process.env.LOG_LEVEL ?? 'SILENT';
// No EMF lines in test output (the metrics tests turn them on), no X-Ray (no daemon here).
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';
