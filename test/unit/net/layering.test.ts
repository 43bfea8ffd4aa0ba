import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const FEATURES = ['tokens', 'webhooks', 'oauth', 'bindings', 'plugins', 'consents', 'system'];
const dir = join(import.meta.dirname, '../../../shared/net');

describe('shared/net (platform)', () => {
  it('imports no feature code, so every feature can use the outbound client', () => {
    const offending = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) =>
        [...readFileSync(join(dir, f), 'utf8').matchAll(/from\s+'([^']+)'/g)]
          .map((m) => m[1] as string)
          .filter((spec) =>
            FEATURES.some((feature) => spec.includes(`shared/${feature}/`) || spec.startsWith('../')),
          )
          .map((spec) => `${f}: ${spec}`),
      );
    expect(offending).toEqual([]);
  });
});
