import { AsyncLocalStorage } from 'node:async_hooks';
import type { Grant } from '#shared/http/route.ts';

/**
 * What IAM enforces in AWS, enforced again where AWS is emulated: the local runtime runs each
 * invocation with the grants of its route or worker row, and the SDK clients refuse calls
 * outside them. A handler that lacks a grant then fails locally and in end-to-end tests, not
 * first in AWS. Outside such a scope (unit tests calling handlers directly) nothing is checked.
 */
const scope = new AsyncLocalStorage<ReadonlySet<Grant>>();

/** Runs `fn` with exactly `grants`, as a Lambda with those permissions would. */
export function runWithGrants<T>(grants: readonly Grant[], fn: () => T): T {
  return scope.run(new Set(grants), fn);
}

/** Raised when an invocation uses a permission its table row does not grant. */
export class MissingGrantError extends Error {
  override name = 'MissingGrantError';
}

/** Throws unless the current invocation holds one of `grants` (no-op outside a grants scope). */
export function assertGranted(what: string, ...grants: Grant[]): void {
  const held = scope.getStore();
  if (!held || grants.some((g) => held.has(g))) return;
  throw new MissingGrantError(
    `${what} needs the grant ${grants.join(' or ')}, which this function's row does not list (held: ${[...held].join(', ') || 'none'})`,
  );
}

const DYNAMO_GRANTS: Record<string, Grant> = {
  GetItemCommand: 'table:read',
  BatchGetItemCommand: 'table:read',
  QueryCommand: 'table:read',
  TransactGetItemsCommand: 'table:read',
  DescribeTableCommand: 'table:read',
  PutItemCommand: 'table:write',
  UpdateItemCommand: 'table:write',
  DeleteItemCommand: 'table:write',
  BatchWriteItemCommand: 'table:write',
  TransactWriteItemsCommand: 'table:write',
  ScanCommand: 'table:scan',
};

/** The grant a DynamoDB command needs (unknown commands need `table:write`, the broader one). */
export function dynamoGrant(commandName: string): Grant {
  return DYNAMO_GRANTS[commandName] ?? 'table:write';
}

/** What an S3 command does to objects: reads need `bucket:<id>:read`, writes `bucket:<id>:write`. */
export type ObjectAccess = 'read' | 'write';

const S3_ACCESS: Record<string, readonly ObjectAccess[]> = {
  GetObjectCommand: ['read'],
  HeadObjectCommand: ['read'],
  GetObjectAttributesCommand: ['read'],
  ListObjectsV2Command: ['read'],
  PutObjectCommand: ['write'],
  DeleteObjectCommand: ['write'],
  DeleteObjectsCommand: ['write'],
  CreateMultipartUploadCommand: ['write'],
  UploadPartCommand: ['write'],
  CompleteMultipartUploadCommand: ['write'],
  AbortMultipartUploadCommand: ['write'],
  // Reads the source and writes the target (both in the same bucket here).
  CopyObjectCommand: ['read', 'write'],
};

/**
 * The accesses an S3 command needs, each of which must be granted (unknown commands, e.g. bucket
 * configuration, need both, the broadest there is).
 */
export function s3Accesses(commandName: string): readonly ObjectAccess[] {
  return S3_ACCESS[commandName] ?? ['read', 'write'];
}

/** True inside an invocation run with its grants (the local runtime), where IAM's rules are enforced. */
export function inGrantsScope(): boolean {
  return scope.getStore() !== undefined;
}
