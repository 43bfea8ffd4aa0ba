import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OWNER_FILE, type OwnerRecord, reapStaleDynamo, startDynamo } from '#infra/local/dynamo.ts';

/**
 * DynamoDB Local on a data folder: one JVM per folder, never outliving its owner. The hard-kill
 * cases (owner SIGKILLed, JVM reaped by the next start) are in test/e2e/local-runtime.test.ts.
 */
const root = mkdtempSync(join(tmpdir(), 'pf-dynamo-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

describe('DynamoDB Local on a data folder', () => {
  it('leaves a recorded pid alone when it is not DynamoDB Local on that folder', async () => {
    const dataDir = join(root, 'reused-pid');
    mkdirSync(dataDir);
    // The pid of a JVM long gone, now used by another program.
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const rec: OwnerRecord = { pid: other.pid as number, owner: 999_999, port: 1, started_at: '' };
      writeFileSync(join(dataDir, OWNER_FILE), JSON.stringify(rec));
      expect(await reapStaleDynamo(dataDir)).toBe('none');
      expect(alive(other.pid as number)).toBe(true);
      expect(existsSync(join(dataDir, OWNER_FILE))).toBe(false);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('refuses to start a second JVM on a folder whose JVM still has its owner, and records the JVM', async () => {
    const dataDir = join(root, 'in-use');
    const first = await startDynamo({ dataDir });
    try {
      const rec = JSON.parse(readFileSync(join(dataDir, OWNER_FILE), 'utf8')) as OwnerRecord;
      expect(rec).toMatchObject({ pid: first.pid, owner: process.pid });
      expect(rec.watchdog && alive(rec.watchdog)).toBe(true);
      await expect(startDynamo({ dataDir })).rejects.toThrow(/already serves/);
      expect(alive(first.pid)).toBe(true);
    } finally {
      await first.stop();
    }
    // A normal stop: JVM gone, record removed, watchdog disarmed and gone.
    expect(alive(first.pid)).toBe(false);
    expect(existsSync(join(dataDir, OWNER_FILE))).toBe(false);
  }, 60_000);

  it('disarms the watchdog on a normal stop, so it exits without touching anything', async () => {
    const dataDir = join(root, 'watchdog');
    const dynamo = await startDynamo({ dataDir });
    const rec = JSON.parse(readFileSync(join(dataDir, OWNER_FILE), 'utf8')) as OwnerRecord;
    await dynamo.stop();
    expect(await until(() => !alive(rec.watchdog as number))).toBe(true);
  }, 60_000);
});
