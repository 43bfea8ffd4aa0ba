import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  copyObject,
  deleteObject,
  headObject,
  presignedUpload,
  resetObjects,
  sha256Of,
} from '#shared/objects.ts';
import { MissingGrantError, runWithGrants, s3Accesses } from '#shared/runtime-grants.ts';
import { setEnv } from '#test/helpers/env.ts';

/**
 * The S3 half of the runtime grants: the client refuses a call the invocation's grants do not
 * cover before sending anything (the endpoint here answers nothing, so any request would fail
 * with a network error instead).
 */
const BUCKET = 'unit-packages';

beforeEach(() => {
  setEnv({ S3_ENDPOINT: 'http://127.0.0.1:9', PACKAGES_BUCKET_NAME: BUCKET });
  resetObjects();
});
afterAll(() => {
  setEnv({ S3_ENDPOINT: undefined, PACKAGES_BUCKET_NAME: undefined });
  resetObjects();
});

describe('runtime grants for S3', () => {
  it('maps S3 commands to the object accesses they need', () => {
    expect(s3Accesses('GetObjectCommand')).toEqual(['read']);
    expect(s3Accesses('HeadObjectCommand')).toEqual(['read']);
    expect(s3Accesses('PutObjectCommand')).toEqual(['write']);
    expect(s3Accesses('DeleteObjectCommand')).toEqual(['write']);
    expect(s3Accesses('CopyObjectCommand')).toEqual(['read', 'write']);
    // Anything else (bucket configuration, …) needs both.
    expect(s3Accesses('PutBucketPolicyCommand')).toEqual(['read', 'write']);
  });

  it('throws MissingGrantError for a call without its grant, before any request', async () => {
    await expect(runWithGrants([], () => headObject(BUCKET, 'k'))).rejects.toThrow(MissingGrantError);
    await expect(runWithGrants(['bucket:packages:write'], () => sha256Of(BUCKET, 'k'))).rejects.toThrow(
      /S3 GetObjectCommand on unit-packages needs the grant bucket:packages:read/,
    );
    await expect(runWithGrants(['bucket:packages:read'], () => deleteObject(BUCKET, 'k'))).rejects.toThrow(
      /bucket:packages:write/,
    );
    await expect(runWithGrants(['bucket:packages:read'], () => copyObject(BUCKET, 'a', 'b'))).rejects.toThrow(
      /bucket:packages:write/,
    );
    await expect(
      runWithGrants(['table:read'], () =>
        presignedUpload({ bucket: BUCKET, key: 'k', maxBytes: 1, expiresSeconds: 60 }),
      ),
    ).rejects.toThrow(MissingGrantError);
  });

  it('lets a granted call through to the network (which fails here)', async () => {
    const err = await runWithGrants(['bucket:packages:read'], () => headObject(BUCKET, 'k')).catch((e) => e);
    expect(err).not.toBeInstanceOf(MissingGrantError);
  });
});
