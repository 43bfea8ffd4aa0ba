import {
  BucketAlreadyOwnedByYou,
  CreateBucketCommand,
  PutBucketVersioningCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { type BucketDef, type BucketId, buckets } from '#shared/bucket-catalog.ts';

export interface LocalBuckets {
  /** Bucket name by bucket id. */
  names: Record<BucketId, string>;
  /** Environment variables functions read bucket names from (as the CDK stack sets them), and S3_ENDPOINT. */
  env: Record<BucketDef['nameEnv'] | 'S3_ENDPOINT', string>;
}

/**
 * Creates every bucket of `shared/bucket-catalog.ts` in the S3 API served at `endpoint` (fauxqs
 * answers S3 on its SQS port), versioning on, as the CDK stack creates them; a bucket that exists
 * (restored from the emulator's data folder, or a second start) is kept with its objects.
 * `prefix` keeps parallel test runs apart.
 *
 * What the emulator does not do (fauxqs 2.4.1): it accepts PutBucketVersioning but keeps no
 * versions (no version ids), stores but never applies lifecycle rules (staged uploads do not
 * expire locally), and does not enforce a presigned POST's policy. It does persist buckets and
 * objects in the same data folder as the queues, so they survive a restart.
 */
export async function ensureBuckets(endpoint: string, opts: { prefix?: string } = {}): Promise<LocalBuckets> {
  const client = new S3Client({
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const prefix = opts.prefix ?? 'pronaflow-integrations';
    const names = {} as LocalBuckets['names'];
    const env = { S3_ENDPOINT: endpoint } as LocalBuckets['env'];
    for (const def of Object.values(buckets)) {
      const name = `${prefix}-${def.id}`;
      try {
        await client.send(new CreateBucketCommand({ Bucket: name }));
      } catch (err) {
        // Real S3 (or a stricter emulator) refuses to create a bucket twice; the emulator does not.
        if (!(err instanceof BucketAlreadyOwnedByYou)) throw err;
      }
      await client.send(
        new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }),
      );
      names[def.id] = name;
      env[def.nameEnv] = name;
    }
    return { names, env };
  } finally {
    client.destroy();
  }
}
