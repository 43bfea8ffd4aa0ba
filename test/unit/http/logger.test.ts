import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isSecretKey, logger, redact } from '#shared/logger.ts';

const TOKEN = 'pfi_ExampleOnly0NotARealToken0000000000000';
const HASH = 'ab'.repeat(32);

/** Everything the logger writes while `fn` runs, one parsed JSON entry per line. */
function captureLogs(): { entries: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = [];
  const grab = (chunk: unknown) => {
    chunks.push(String(chunk));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(grab);
  vi.spyOn(process.stderr, 'write').mockImplementation(grab);
  const text = () => chunks.join('');
  return {
    text,
    entries: () =>
      text()
        .split('\n')
        .filter((l) => l.trim().startsWith('{'))
        .map((l) => JSON.parse(l)),
  };
}

describe('logger', () => {
  let level: string;
  beforeEach(() => {
    level = logger.getLevelName();
    logger.setLogLevel('INFO');
  });
  afterEach(() => {
    vi.restoreAllMocks();
    logger.setLogLevel(level as 'INFO');
    logger.resetKeys();
  });

  it('redacts secret-looking keys at any depth, in extra arguments and persistent keys', () => {
    const logs = captureLogs();
    logger.appendKeys({ session_cookie: 'c=1' });
    logger.info('call', {
      token: TOKEN,
      token_hash: HASH,
      token_id: 'tok_1',
      headers: { Authorization: `Bearer ${TOKEN}`, 'x-request-id': 'r1' },
      nested: [{ client_secret: 's3cr3t', webhook_id: 'wh_1' }],
    });
    const [entry] = logs.entries();
    expect(entry).toMatchObject({
      level: 'INFO',
      message: 'call',
      service: 'pronaflow-integrations',
      token: '[redacted]',
      token_hash: '[redacted]',
      token_id: 'tok_1',
      session_cookie: '[redacted]',
      headers: { Authorization: '[redacted]', 'x-request-id': 'r1' },
      nested: [{ client_secret: '[redacted]', webhook_id: 'wh_1' }],
    });
    expect(logs.text()).not.toContain(TOKEN);
    expect(logs.text()).not.toContain(HASH);
    expect(logs.text()).not.toContain('s3cr3t');
  });

  it('scrubs tokens, hashes and bearer credentials from messages and errors, causes included', () => {
    const logs = captureLogs();
    const cause = new Error(`ConditionalCheckFailed on TOKENHASH#${HASH}`);
    logger.error(`lookup of ${TOKEN} failed`, {
      error: new Error(`header was Bearer ${TOKEN}`, { cause }),
    });
    const text = logs.text();
    expect(text).toContain('lookup of pfi_[redacted] failed');
    expect(text).toContain('ConditionalCheckFailed on TOKENHASH#[redacted-sha256]');
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(HASH);
    const [entry] = logs.entries();
    expect(entry?.error).toMatchObject({ name: 'Error', message: 'header was Bearer [redacted]' });
  });

  it('scrubs webhook signing secrets from free text', () => {
    const logs = captureLogs();
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    logger.warn(`receiver rejected a signature made with ${secret}`);
    expect(logs.text()).not.toContain(secret);
    expect(logs.text()).toContain('whsec_[redacted]');
  });

  it('scrubs JWTs wherever they stand: in a logged path, a message, an error', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const jws = await new SignJWT({ workspaces: [{ id: 'ws1', role: 'admin' }] })
      .setProtectedHeader({ alg: 'ES256' })
      .setSubject('u1')
      .sign(privateKey);
    const unsigned = `${new UnsecuredJWT({ sub: 'u1' }).encode()}`;
    const spaced = `${Buffer.from('{ "alg": "HS256" }').toString('base64url')}.${Buffer.from('{"sub":"u1"}').toString('base64url')}.c2ln`;
    const jwe =
      'eyJhbGciOiJSU0EtT0FFUCJ9.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGe.48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6jiSdiwkIr3ajwQzaBtQD_A.XFBoMYUZodetZdvTiFvSkQ';
    const logs = captureLogs();
    logger.info('request done', { path: `/v1/integration/webhooks/${jws}`, query: `t=${unsigned}` });
    logger.warn(`bad session ${spaced}`, { error: new Error(`could not decrypt ${jwe}`) });
    const text = logs.text();
    for (const jwt of [jws, unsigned, spaced, jwe]) {
      expect(text).not.toContain(jwt);
      expect(text).not.toContain(jwt.split('.')[1]);
    }
    expect(logs.entries()[0]).toMatchObject({ path: '/v1/integration/webhooks/[redacted-jwt]' });
    // Percent-encoded, glued to other text, quoted in a query: scrubbed all the same.
    const [h, p, sig] = jws.split('.');
    for (const form of [
      `/webhooks/${h}%2E${p}%2E${sig}`,
      `/webhooks/${h}%2e${p}%2e${sig}`,
      `%2Fwebhooks%2F${jws}`,
      `q=%22${jws}%22`,
      `x_${jws}`,
      `token${jws}`,
    ]) {
      const out = redact(form) as string;
      expect(out, form).toContain('[redacted-jwt]');
      expect(out, form).not.toContain(p as string);
    }
    // Text that merely looks alike stays readable.
    for (const plain of [
      'hooks.example.com/in?a=b.c',
      'monkey-business.example.com',
      'eyJunk.not.base64json',
    ]) {
      expect(redact(plain)).toBe(plain);
    }
  });

  it('keeps identifiers readable: *_id keys are not secrets', () => {
    for (const key of ['token_id', 'client_id', 'event_id', 'tokenId', 'id'])
      expect(isSecretKey(key), key).toBe(false);
    for (const key of ['token', 'access_token', 'token_hash', 'password', 'api_key', 'Authorization'])
      expect(isSecretKey(key), key).toBe(true);
    expect(redact({ token_id: 'tok_1', refresh_token: 'r' })).toEqual({
      token_id: 'tok_1',
      refresh_token: '[redacted]',
    });
  });
});
