import { afterEach, beforeEach, vi } from 'vitest';
import { resetMetrics } from '#shared/metrics.ts';

export interface CapturedOutput {
  /** What the process wrote to stdout and stderr during the current test, chunk by chunk. */
  chunks: string[];
  /** The JSON lines among them (log lines and EMF). */
  json: () => Record<string, unknown>[];
  /** The EMF lines among them (those with an `_aws` member). */
  emf: () => Record<string, unknown>[];
}

/**
 * For each test of the calling file: Powertools Metrics on (off again afterwards, as
 * test/helpers/setup-env.ts has it) and everything written to stdout and stderr captured, so a
 * test reads the log and EMF lines the code wrote.
 */
export function useCapturedOutput(): CapturedOutput {
  const chunks: string[] = [];
  const lines = () => chunks.flatMap((c) => c.split('\n'));
  beforeEach(() => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'false';
    resetMetrics();
    chunks.length = 0;
    const capture = (chunk: string | Uint8Array) => {
      chunks.push(String(chunk));
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  });
  afterEach(() => {
    vi.restoreAllMocks();
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    resetMetrics();
  });
  return {
    chunks,
    json: () =>
      lines()
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    emf: () =>
      lines()
        .filter((l) => l.includes('"_aws"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
