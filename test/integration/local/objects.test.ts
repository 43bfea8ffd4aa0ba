import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuckets, type LocalBuckets } from '#infra/local/s3.ts';
import { type LocalSqs, startSqs } from '#infra/local/sqs.ts';
import {
  bucketName,
  copyObject,
  deleteObject,
  headObject,
  presignedUpload,
  resetObjects,
  sha256Of,
} from '#shared/objects.ts';
import { MissingGrantError, runWithGrants } from '#shared/runtime-grants.ts';
import { setEnv } from '#test/helpers/env.ts';

/** The object-storage module against the real S3 API of the local emulator (fauxqs). */
const root = mkdtempSync(join(tmpdir(), 'pf-s3-'));
const running: LocalSqs[] = [];
let emulator: LocalSqs;
let local: LocalBuckets;

async function start(dataDir: string) {
  const s = await startSqs({ prefix: `s3${randomBytes(3).toString('hex')}`, dataDir });
  running.push(s);
  return s;
}

beforeAll(async () => {
  emulator = await start(join(root, 'main'));
  local = await ensureBuckets(emulator.endpoint, { prefix: `t${randomBytes(3).toString('hex')}` });
  setEnv(local.env);
  resetObjects();
});
afterAll(async () => {
  resetObjects();
  for (const s of running) await s.stop().catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
});

/** POSTs `body` with the presigned form, as a browser would (fields first, the file last). */
async function upload(
  form: { url: string; fields: Record<string, string> },
  body: Uint8Array,
  type?: string,
) {
  const data = new FormData();
  for (const [k, v] of Object.entries(form.fields)) data.append(k, v);
  data.append('file', new Blob([body], type ? { type } : {}), 'package.zip');
  return fetch(form.url, { method: 'POST', body: data });
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('object storage (shared/objects.ts) on the local S3 emulator', () => {
  it('names the catalog bucket from its variable, and fails clearly when it is not set', () => {
    expect(bucketName('packages')).toBe(local.names.packages);
    setEnv({ PACKAGES_BUCKET_NAME: undefined });
    try {
      expect(() => bucketName('packages')).toThrow(/PACKAGES_BUCKET_NAME is not set/);
    } finally {
      setEnv(local.env);
    }
  });

  it('takes a presigned POST upload, then heads, hashes, copies and deletes the object', async () => {
    const bucket = bucketName('packages');
    const key = `staging/pkg-${randomBytes(4).toString('hex')}.zip`;
    // Large enough to arrive in many chunks: the hash is computed while streaming.
    const body = randomBytes(3 * 1024 * 1024 + 17);

    const before = Date.now();
    const form = await presignedUpload({
      bucket,
      key,
      maxBytes: body.length,
      expiresSeconds: 900,
      contentType: 'application/zip',
    });
    expect(form.fields.key).toBe(key);
    expect(form.fields['Content-Type']).toBe('application/zip');
    const policy = JSON.parse(Buffer.from(form.fields.Policy!, 'base64').toString('utf8')) as {
      expiration: string;
      conditions: unknown[];
    };
    expect(policy.conditions).toEqual(
      expect.arrayContaining([
        ['content-length-range', 1, body.length],
        { key },
        { bucket },
        { 'Content-Type': 'application/zip' },
      ]),
    );
    expect(policy.expiration).toBe(form.expires_at);
    const expiresIn = Date.parse(form.expires_at) - before;
    expect(expiresIn).toBeGreaterThan(899_000);
    expect(expiresIn).toBeLessThan(902_000);

    const res = await upload(form, body, 'application/zip');
    expect(res.status).toBe(204);

    const head = await headObject(bucket, key);
    expect(head?.size).toBe(body.length);
    expect(head?.etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(await sha256Of(bucket, key)).toBe(sha256(body));
    expect(await sha256Of(bucket, key, { ifMatch: head!.etag })).toBe(sha256(body));
    await expect(sha256Of(bucket, key, { ifMatch: '"0"' })).rejects.toThrow();

    const finalKey = `packages/${randomBytes(4).toString('hex')}/1.0.0.zip`;
    await copyObject(bucket, key, finalKey);
    expect((await headObject(bucket, finalKey))?.size).toBe(body.length);
    expect(await sha256Of(bucket, finalKey)).toBe(sha256(body));

    await deleteObject(bucket, key);
    expect(await headObject(bucket, key)).toBeUndefined();
    expect(await headObject(bucket, finalKey)).toBeDefined();
    // Deleting what is not there is no error (as in S3).
    await deleteObject(bucket, key);
  });

  it('returns undefined for a missing key and copies keys that need URL encoding', async () => {
    const bucket = bucketName('packages');
    expect(await headObject(bucket, `staging/missing-${randomBytes(4).toString('hex')}`)).toBeUndefined();
    const key = `staging/a b+c/ü ${randomBytes(2).toString('hex')}.zip`;
    const form = await presignedUpload({ bucket, key, maxBytes: 10, expiresSeconds: 60 });
    expect((await upload(form, Buffer.from('hello'))).status).toBe(204);
    await copyObject(bucket, key, `${key}.copy`);
    expect(await sha256Of(bucket, `${key}.copy`)).toBe(sha256(Buffer.from('hello')));
  });

  it('refuses bad presign input before signing anything', async () => {
    const bucket = bucketName('packages');
    const ok = { bucket, key: 'staging/x', maxBytes: 10, expiresSeconds: 60 };
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal S3 form variable
    await expect(presignedUpload({ ...ok, key: 'staging/${filename}' })).rejects.toThrow(/key/);
    await expect(presignedUpload({ ...ok, maxBytes: 0 })).rejects.toThrow(/maxBytes/);
    await expect(presignedUpload({ ...ok, expiresSeconds: 8 * 86_400 })).rejects.toThrow(/expiresSeconds/);
  });

  it('is held to the bucket grants where AWS is emulated', async () => {
    const bucket = bucketName('packages');
    const key = `staging/grants-${randomBytes(4).toString('hex')}`;
    const presign = () => presignedUpload({ bucket, key, maxBytes: 10, expiresSeconds: 60 });
    await expect(runWithGrants(['bucket:packages:read'], presign)).rejects.toThrow(MissingGrantError);
    const form = await runWithGrants(['bucket:packages:write'], presign);
    expect((await upload(form, Buffer.from('grants'))).status).toBe(204);

    await expect(runWithGrants(['bucket:packages:write'], () => headObject(bucket, key))).rejects.toThrow(
      /bucket:packages:read/,
    );
    expect(await runWithGrants(['bucket:packages:read'], () => headObject(bucket, key))).toMatchObject({
      size: 6,
    });
    await expect(runWithGrants(['bucket:packages:read'], () => sha256Of(bucket, key))).resolves.toMatch(
      /^[0-9a-f]{64}$/,
    );
    // A copy reads and writes: it needs both.
    const copy = () => copyObject(bucket, key, `${key}.copy`);
    await expect(runWithGrants(['bucket:packages:read'], copy)).rejects.toThrow(/bucket:packages:write/);
    await expect(runWithGrants(['bucket:packages:write'], copy)).rejects.toThrow(/bucket:packages:read/);
    await runWithGrants(['bucket:packages:read', 'bucket:packages:write'], copy);
    await expect(runWithGrants(['bucket:packages:read'], () => deleteObject(bucket, key))).rejects.toThrow(
      MissingGrantError,
    );
    await runWithGrants(['bucket:packages:write'], () => deleteObject(bucket, key));
    // A bucket outside the catalog is never granted.
    await expect(
      runWithGrants(['bucket:packages:read'], () => headObject('some-other-bucket', key)),
    ).rejects.toThrow(/bucket:unknown:read/);
  });

  it('keeps buckets and objects across a restart of the emulator with a data folder', async () => {
    const dataDir = join(root, 'restart');
    const first = await start(dataDir);
    const buckets = await ensureBuckets(first.endpoint, { prefix: 'restart' });
    setEnv(buckets.env);
    resetObjects();
    const bucket = bucketName('packages');
    const form = await presignedUpload({
      bucket,
      key: 'staging/kept.zip',
      maxBytes: 100,
      expiresSeconds: 60,
    });
    expect((await upload(form, Buffer.from('kept across restarts'))).status).toBe(204);
    await first.stop();
    running.splice(running.indexOf(first), 1);

    const second = await start(dataDir);
    // Creating the buckets again is a no-op that keeps their objects.
    setEnv((await ensureBuckets(second.endpoint, { prefix: 'restart' })).env);
    resetObjects();
    try {
      expect(await headObject(bucket, 'staging/kept.zip')).toMatchObject({ size: 20 });
      expect(await sha256Of(bucket, 'staging/kept.zip')).toBe(sha256(Buffer.from('kept across restarts')));
    } finally {
      setEnv(local.env);
      resetObjects();
    }
  });
});
