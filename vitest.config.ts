import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // DynamoDB Local and the SQS emulator start once per run; each file gets its own table.
    globalSetup: ['test/helpers/global-setup.ts'],
    // response-audit: every answer of a handler in any test must be declared in the OpenAPI document.
    setupFiles: ['test/helpers/setup-env.ts', 'test/helpers/response-audit.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores here: more workers only fight over DynamoDB Local.
    maxWorkers: 2,
  },
});
