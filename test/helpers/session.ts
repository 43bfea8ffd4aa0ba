import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { resetSessionKeys } from '#shared/auth/session.ts';
import { setEnv } from './env.ts';

type Ws = { id: string; role: 'member' | 'admin' };

export interface TestIdentity {
  /** A valid session JWT for `userId` in `workspaces`. */
  jwt: (
    userId: string,
    workspaces: Ws[] | string,
    opts?: {
      expiresIn?: string | number;
      issuer?: string;
      audience?: string;
      /** `iat` in epoch seconds (default: now); `null` leaves the claim out. */
      issuedAt?: number | null;
      /** Adds the `operator: true` claim (PronaFlow operators: plugin publishing). */
      operator?: boolean;
    },
  ) => Promise<string>;
  publicJwk: JWK;
}

/**
 * Creates a signing key, points the service at its public half (AUTH_JWT_PUBLIC_KEY) and mints
 * session JWTs as PronaFlow's identity service would.
 */
export async function testIdentity(): Promise<TestIdentity> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), alg: 'ES256' };
  setEnv({ AUTH_JWT_PUBLIC_KEY: JSON.stringify(publicJwk), AUTH_JWKS_URL: undefined });
  resetSessionKeys();
  return {
    publicJwk,
    jwt: (userId, workspaces, opts = {}) => {
      const list = typeof workspaces === 'string' ? [{ id: workspaces, role: 'admin' as const }] : workspaces;
      const jwt = new SignJWT({ workspaces: list, ...(opts.operator ? { operator: true } : {}) })
        .setProtectedHeader({ alg: 'ES256' })
        .setSubject(userId)
        .setIssuer(opts.issuer ?? 'https://identity.pronaflow.local')
        .setAudience(opts.audience ?? 'pronaflow-integrations');
      if (opts.issuedAt !== null) jwt.setIssuedAt(opts.issuedAt);
      return jwt.setExpirationTime(opts.expiresIn ?? '1h').sign(privateKey);
    },
  };
}
