/**
 * The service's S3 buckets: the root of the CDK stack creates them (private, encrypted, versioned,
 * TLS only), the local runtime creates the same ones in the S3 emulator, and functions learn each
 * bucket's name from its environment variable. Data only, so platform code (shared/objects.ts)
 * can read it; what a bucket holds is its feature's business.
 */

export interface BucketDef {
  id: BucketId;
  /** Environment variable through which functions learn the bucket name. */
  nameEnv: 'PACKAGES_BUCKET_NAME';
  description: string;
  /**
   * Key prefix of uploads not yet accepted (presigned POST targets). Objects under it expire after
   * {@link stagingExpiryDays}: an upload that is never published is deleted by S3 itself.
   */
  stagingPrefix: string;
  stagingExpiryDays: number;
  /** Days a replaced or deleted object version is kept (the bucket is versioned) before S3 deletes it. */
  noncurrentVersionExpiryDays: number;
  /** Days after which S3 aborts an unfinished multipart upload (and frees its parts). */
  abortIncompleteMultipartUploadDays: number;
}

export type BucketId = 'packages';

export const buckets: Record<BucketId, BucketDef> = {
  packages: {
    id: 'packages',
    nameEnv: 'PACKAGES_BUCKET_NAME',
    description: 'Plugin packages: uploads under staging/ until published, then the published versions',
    stagingPrefix: 'staging/',
    stagingExpiryDays: 1,
    noncurrentVersionExpiryDays: 30,
    abortIncompleteMultipartUploadDays: 1,
  },
};
