import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';

/** Parses CLI flags; on a mistake prints `usage` and exits 2. */
export function cliArgs<T extends ParseArgsOptionsConfig>(options: T, usage: string) {
  try {
    return parseArgs({ options, allowPositionals: true, strict: true });
  } catch (err) {
    return fail(`${(err as Error).message}\n${usage}`);
  }
}

export function fail(message: string): never {
  console.error(message);
  process.exit(2);
}
