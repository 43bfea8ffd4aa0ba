/**
 * Object storage (S3) for the service's functions: the process-wide client and the few operations
 * features need on the buckets of `shared/bucket-catalog.ts` — a presigned POST for a direct
 * upload, HeadObject, a streamed SHA-256, a server-side copy and a delete. Platform code: it knows
 * buckets and keys, not what they hold.
 *
 * Where AWS is emulated (the local runtime), IAM is too: every command must be covered by the
 * invocation's `bucket:<id>:read|write` grants (see `shared/runtime-grants.ts`).
 */
import { createHash } from 'node:crypto';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { type BucketDef, type BucketId, buckets } from '#shared/bucket-catalog.ts';
import { config } from '#shared/config.ts';
import type { Grant } from '#shared/http/route.ts';
import { assertGranted, type ObjectAccess, s3Accesses } from '#shared/runtime-grants.ts';
import { traced } from '#shared/tracing.ts';

let client: S3Client | undefined;

/**
 * The process-wide S3 client, created on first use (the local runtime sets S3_ENDPOINT first).
 * With an endpoint override it uses path-style URLs (`http://host:port/<bucket>/<key>`), as the
 * emulator has no per-bucket host names.
 */
export function s3(): S3Client {
  if (!client) {
    const endpoint = config().S3_ENDPOINT;
    client = new S3Client(
      endpoint
        ? {
            endpoint,
            forcePathStyle: true,
            region: process.env.AWS_REGION ?? 'us-east-1',
            credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
          }
        : {},
    );
    client.middlewareStack.add(
      (next, context) => (args) => {
        const command = context.commandName ?? 'unknown';
        const input = args.input as { Bucket?: string; CopySource?: string };
        for (const access of s3Accesses(command)) {
          // A copy reads its source (`<bucket>/<key>`) and writes its target.
          const bucket =
            access === 'read' && input.CopySource
              ? decodeURIComponent(input.CopySource.replace(/^\//, '').split('/')[0] ?? '')
              : (input.Bucket ?? '');
          assertGranted(`S3 ${command} on ${bucket}`, bucketGrant(bucket, access));
        }
        return next(args);
      },
      { step: 'initialize', name: 'runtimeGrants' },
    );
    client = traced(client);
  }
  return client;
}

/** Drops the cached client (tests and the local runtime switch endpoints). */
export function resetObjects(): void {
  client?.destroy();
  client = undefined;
}

/** The grant that allows `access` to the bucket named `bucket` (by the name variables the stack sets). */
function bucketGrant(bucket: string, access: ObjectAccess): Grant {
  const cfg = config();
  const def = Object.values(buckets).find((b) => bucket !== '' && cfg[b.nameEnv] === bucket);
  return `bucket:${def?.id ?? 'unknown'}:${access}` as Grant;
}

/**
 * The name of a bucket of the catalog, from its environment variable (set on functions holding a
 * `bucket:<id>:…` grant); fails loudly when it is not set.
 */
export function bucketName(id: BucketId): string {
  const def: BucketDef = buckets[id];
  const name = config()[def.nameEnv];
  if (!name) {
    throw new Error(`${def.nameEnv} is not set: does this function's row grant bucket:${id}:read or :write?`);
  }
  return name;
}

/** The POST form variable S3 replaces with the uploaded file's name. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: S3's literal form variable, not a template
const FILENAME_VARIABLE = '${filename}';

/** SigV4 caps a presigned request's validity at 7 days. */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

export interface PresignedUploadInput {
  bucket: string;
  /** The exact key the upload must use (no `${filename}` substitution). */
  key: string;
  /** Largest accepted upload, in bytes: the policy allows 1..maxBytes (pass the declared size). */
  maxBytes: number;
  /** Validity of the form, at most {@link MAX_PRESIGN_SECONDS} (and no longer than the signer's credentials). */
  expiresSeconds: number;
  /** When set, the form must send exactly this `Content-Type`, which the object keeps. */
  contentType?: string;
}

/** A browser-ready upload form: POST `fields` then the file (last) as multipart/form-data to `url`. */
export interface PresignedUpload {
  url: string;
  fields: Record<string, string>;
  /** ISO 8601 UTC: the policy's expiration. */
  expires_at: string;
}

/**
 * Signs a POST policy for one direct upload: the exact key, a `content-length-range` of
 * [1, maxBytes] and, when given, the exact Content-Type. S3 refuses anything else before storing
 * a byte; the range is an upper bound, not an exact size (a POST policy cannot state one), so the
 * caller checks the stored size (and content) with {@link headObject} and {@link sha256Of} before
 * trusting the object. The emulator used locally does not enforce the policy at all.
 *
 * The upload is authorized as the signer: the function needs `bucket:<id>:write` (s3:PutObject),
 * and the form stops working when the signer's session credentials expire, whichever comes first.
 */
export async function presignedUpload(input: PresignedUploadInput): Promise<PresignedUpload> {
  const { bucket, key, maxBytes, expiresSeconds, contentType } = input;
  // S3 would substitute the uploaded file's name for `${filename}`: the key must be exact.
  if (!key || key.includes(FILENAME_VARIABLE)) throw new Error(`Invalid upload key: ${key}`);
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new Error(`Invalid maxBytes: ${maxBytes}`);
  if (!Number.isInteger(expiresSeconds) || expiresSeconds < 1 || expiresSeconds > MAX_PRESIGN_SECONDS) {
    throw new Error(`expiresSeconds must be an integer in 1..${MAX_PRESIGN_SECONDS}, got ${expiresSeconds}`);
  }
  // Signing sends no request, so the grants middleware never sees it: check here.
  assertGranted(`S3 presigned upload to ${bucket}`, bucketGrant(bucket, 'write'));
  // The library dates the policy from its own clock reading, at most a few ms later than this one.
  const expiresAt = new Date(Date.now() + expiresSeconds * 1000);
  const fields: Record<string, string> = contentType ? { 'Content-Type': contentType } : {};
  const post = await createPresignedPost(s3(), {
    Bucket: bucket,
    Key: key,
    // Fields are added to the policy as exact-match conditions by the library.
    Fields: fields,
    Conditions: [['content-length-range', 1, maxBytes]],
    Expires: expiresSeconds,
  });
  return {
    url: post.url,
    fields: post.fields,
    expires_at: expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}

export interface ObjectHead {
  size: number;
  /** As S3 returns it, quoted (`"<md5 hex>"` for single-part uploads). */
  etag: string;
  /** Set where the bucket is versioned (AWS; the emulator keeps no versions). */
  versionId?: string;
}

/** Reads and copies can be pinned to the object that was checked, so a later overwrite is not taken. */
export interface ObjectPin {
  /** A version id from {@link headObject} (real S3, versioned bucket). */
  versionId?: string;
  /** An ETag from {@link headObject}: the request fails (412) if the object changed since. */
  ifMatch?: string;
}

/** Size, ETag and version of an object, or undefined when there is none under `key` (404). */
export async function headObject(
  bucket: string,
  key: string,
  pin: ObjectPin = {},
): Promise<ObjectHead | undefined> {
  try {
    const out = await s3().send(
      new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: pin.versionId, IfMatch: pin.ifMatch }),
    );
    return {
      size: out.ContentLength ?? 0,
      etag: out.ETag ?? '',
      ...(out.VersionId && out.VersionId !== 'null' ? { versionId: out.VersionId } : {}),
    };
  } catch (err) {
    // A HeadObject error has no body, only the status (NotFound); 404 needs s3:ListBucket, which
    // the read grant holds (otherwise S3 answers 403 for a missing key).
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404)
      return undefined;
    throw err;
  }
}

/**
 * The SHA-256 of an object's content, lowercase hex, read as a stream (constant memory whatever
 * the object's size). Throws when the object does not exist.
 */
export async function sha256Of(bucket: string, key: string, pin: ObjectPin = {}): Promise<string> {
  const out = await s3().send(
    new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: pin.versionId, IfMatch: pin.ifMatch }),
  );
  if (!out.Body) throw new Error(`S3 returned no body for ${bucket}/${key}`);
  const hash = createHash('sha256');
  for await (const chunk of out.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
  return hash.digest('hex');
}

/**
 * Copies an object within a bucket, server-side (no bytes through the function; one request up to
 * 5 GB), keeping its content type and metadata. Needs `bucket:<id>:read` and `:write`.
 */
export async function copyObject(
  bucket: string,
  fromKey: string,
  toKey: string,
  pin: ObjectPin = {},
): Promise<{ etag?: string; versionId?: string }> {
  // CopySource is `<bucket>/<key>` URL-encoded (slashes between key segments kept), `?versionId=` to pin.
  const source = `${bucket}/${fromKey.split('/').map(encodeURIComponent).join('/')}`;
  const out = await s3().send(
    new CopyObjectCommand({
      Bucket: bucket,
      Key: toKey,
      CopySource: pin.versionId ? `${source}?versionId=${encodeURIComponent(pin.versionId)}` : source,
      CopySourceIfMatch: pin.ifMatch,
    }),
  );
  return {
    ...(out.CopyObjectResult?.ETag ? { etag: out.CopyObjectResult.ETag } : {}),
    ...(out.VersionId && out.VersionId !== 'null' ? { versionId: out.VersionId } : {}),
  };
}

/**
 * Deletes an object (no error when there is none). In a versioned bucket this adds a delete
 * marker: the data stays as a noncurrent version until the bucket's lifecycle expires it.
 */
export async function deleteObject(bucket: string, key: string): Promise<void> {
  await s3().send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
}

/** Writes a small object in one request (packages the service itself ships, e.g. seeded plugins). */
export async function putObject(
  bucket: string,
  key: string,
  body: Uint8Array,
  contentType?: string,
): Promise<void> {
  await s3().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
}
