import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from 'jose';

export interface DevKeys {
  privateJwk: JWK;
  publicJwk: JWK;
}

/** Loads the local session signing key pair, creating it on first use (ES256). */
export async function loadOrCreateDevKeys(file: string): Promise<DevKeys> {
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as DevKeys;
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const keys: DevKeys = {
    privateJwk: { ...(await exportJWK(privateKey)), alg: 'ES256' },
    publicJwk: { ...(await exportJWK(publicKey)), alg: 'ES256' },
  };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(keys), { mode: 0o600 });
  return keys;
}

/** Signs a session JWT like PronaFlow's identity service would. */
export async function signSessionJwt(input: {
  keys: DevKeys;
  userId: string;
  workspaces: { id: string; role: 'member' | 'admin' }[];
  /** Adds the `operator: true` claim of PronaFlow operators (plugin publishing). */
  operator?: boolean;
  issuer: string;
  audience: string;
  expiresIn?: string | number;
}): Promise<string> {
  const key = await importJWK(input.keys.privateJwk, 'ES256');
  return new SignJWT({ workspaces: input.workspaces, ...(input.operator ? { operator: true } : {}) })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
    .setSubject(input.userId)
    .setIssuer(input.issuer)
    .setAudience(input.audience)
    .setIssuedAt()
    .setExpirationTime(input.expiresIn ?? '12h')
    .sign(key);
}
