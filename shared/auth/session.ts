import { createPublicKey, type KeyObject } from 'node:crypto';
import { type CryptoKey, createRemoteJWKSet, errors, importJWK, type JWTVerifyGetKey, jwtVerify } from 'jose';
import * as v from 'valibot';
import { config } from '#shared/config.ts';
import {
  ForbiddenError,
  ServiceUnavailableError,
  UnauthorizedError,
  ValidationError,
} from '#shared/errors.ts';
import type { Caller } from '#shared/http/caller.ts';
import { logger } from '#shared/logger.ts';
import { check } from '#shared/validation.ts';

/** Claims PronaFlow's identity service puts in a session JWT. */
export const sessionClaims = v.object({
  sub: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
  /** When the identity service issued the session (epoch seconds): membership records newer than it win. */
  iat: v.optional(v.pipe(v.number(), v.minValue(0))),
  workspaces: v.optional(
    v.pipe(
      v.array(
        v.object({
          id: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
          role: v.picklist(['member', 'admin']),
        }),
      ),
      v.maxLength(500),
    ),
    [],
  ),
  /** A PronaFlow operator (publishes to the plugin marketplace); absent or false for everyone else. */
  operator: v.optional(v.boolean()),
});

type Verifier = { key: CryptoKey | KeyObject | Uint8Array | JWTVerifyGetKey };
let verifier: Promise<Verifier> | undefined;

async function loadKey(): Promise<Verifier> {
  const cfg = config();
  if (cfg.AUTH_JWKS_URL) return { key: createRemoteJWKSet(new URL(cfg.AUTH_JWKS_URL)) };
  const raw = cfg.AUTH_JWT_PUBLIC_KEY;
  if (!raw) throw new Error('No session key configured: set AUTH_JWKS_URL or AUTH_JWT_PUBLIC_KEY');
  if (raw.trim().startsWith('{')) {
    const jwk = JSON.parse(raw) as { alg?: string };
    return { key: await importJWK(jwk, jwk.alg ?? 'ES256') };
  }
  // A PEM key: its type (EC, RSA, Ed25519) comes from the key itself; jose then only accepts
  // algorithms of the allow-list that fit it.
  return { key: createPublicKey(raw) };
}

/** Problems on our side of verification (JWKS unreachable or invalid): 503, never "your token is bad". */
function isVerifierFailure(err: unknown): boolean {
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) return true;
  return !(err instanceof errors.JOSEError);
}

/** Forgets the loaded verification key (tests rotate keys). */
export function resetSessionKeys(): void {
  verifier = undefined;
}

/**
 * Verifies a PronaFlow session JWT (signature, algorithm allow-list, issuer, audience, expiry)
 * and resolves the workspace the request acts in: `X-Workspace-Id`, or the user's only one.
 * The claims are PronaFlow's word as of `iat`; `authenticate()` then holds them to the
 * service's membership record (see `holdToStanding`).
 */
export async function authenticateSession(jwt: string, workspaceHeader: string | undefined): Promise<Caller> {
  const cfg = config();
  verifier ??= loadKey();
  let key: Verifier['key'];
  try {
    ({ key } = await verifier);
  } catch (err) {
    verifier = undefined; // try again on the next request
    logger.error('session key could not be loaded', { error: err as Error });
    throw new ServiceUnavailableError('Sessions cannot be verified right now; try again shortly.', {
      cause: err,
    });
  }
  let payload: unknown;
  try {
    const options = {
      issuer: cfg.AUTH_JWT_ISSUER,
      audience: cfg.AUTH_JWT_AUDIENCE,
      algorithms: cfg.AUTH_JWT_ALGORITHMS,
      requiredClaims: ['exp', 'sub'],
      clockTolerance: 5,
    };
    const result =
      typeof key === 'function' ? await jwtVerify(jwt, key, options) : await jwtVerify(jwt, key, options);
    payload = result.payload;
  } catch (err) {
    if (isVerifierFailure(err)) {
      logger.error('session verification failed on our side', { error: err as Error });
      throw new ServiceUnavailableError('Sessions cannot be verified right now; try again shortly.', {
        cause: err,
      });
    }
    const code = (err as { code?: string }).code;
    const detail =
      code === 'ERR_JWT_EXPIRED' ? 'The session token has expired.' : 'The session token is not valid.';
    throw new UnauthorizedError(detail, { error: 'invalid_token', cause: err });
  }
  const claims = check(sessionClaims, payload);
  if (!claims.success) {
    throw new UnauthorizedError('The session token lacks the required claims.', { error: 'invalid_token' });
  }
  const { sub, iat, workspaces, operator } = claims.data;
  const chosen = pickWorkspace(workspaces, workspaceHeader);
  return {
    kind: 'session',
    userId: sub,
    workspaceId: chosen.id,
    role: chosen.role,
    workspaces,
    ...(operator === true ? { operator: true } : {}),
    ...(iat === undefined ? {} : { issuedAt: iat }),
  };
}

function pickWorkspace(workspaces: Caller['workspaces'], header: string | undefined) {
  if (header) {
    const found = workspaces.find((w) => w.id === header);
    if (!found) throw new ForbiddenError(`You are not a member of workspace '${header}'.`);
    return found;
  }
  const [only, ...rest] = workspaces;
  if (!only) throw new ForbiddenError('Your session belongs to no workspace.');
  if (rest.length > 0) {
    throw new ValidationError('Choose a workspace with the X-Workspace-Id header.', [
      { path: 'headers.x-workspace-id', message: 'Required when you belong to several workspaces' },
    ]);
  }
  return only;
}
