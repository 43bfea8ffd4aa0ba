import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLIENT_SCHEMA_FILE, generateClientSchema } from '#infra/local/gen-client.ts';

describe('typed client (shared/client)', () => {
  it('schema.ts matches the route table (else: run npm run client:gen and commit it)', async () => {
    const expected = await generateClientSchema();
    const committed = readFileSync(resolve(CLIENT_SCHEMA_FILE), 'utf8');
    if (committed !== expected) {
      expect.fail(
        `${CLIENT_SCHEMA_FILE} is out of date with the route table: run npm run client:gen and commit the result`,
      );
    }
  }, 60_000);
});
