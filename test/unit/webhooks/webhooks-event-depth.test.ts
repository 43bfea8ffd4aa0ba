import { describe, expect, it } from 'vitest';
import { jsonDepth, MAX_EVENT_DATA_DEPTH } from '#shared/events/ingest.ts';

describe('jsonDepth', () => {
  it('counts nested objects and arrays, and nothing inside strings', () => {
    expect(jsonDepth('1')).toBe(0);
    expect(jsonDepth('{"a":[1,{"b":[]}]}')).toBe(4);
    expect(jsonDepth('{"a":"[[[{{{\\"[[["}')).toBe(1);
    expect(jsonDepth('[[],[[]],[]]')).toBe(3);
  });

  it('measures 20 000 levels without overflowing the stack, and stops early past the limit', () => {
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    expect(jsonDepth(deep)).toBe(20_000);
    expect(jsonDepth(deep, MAX_EVENT_DATA_DEPTH)).toBe(MAX_EVENT_DATA_DEPTH + 1);
  });
});
