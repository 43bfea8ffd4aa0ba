import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '#infra/local/ports.ts';
import {
  freshCheckout,
  readmeWalkthroughs,
  runTerminal,
  stopTerminal,
  type Terminal,
  terminalEnv,
  waitReady,
} from '#test/helpers/readme-walkthroughs.ts';

/**
 * Runs every README block marked `<!-- walkthrough: <name> -->` as written, each against its own
 * fresh `npm start` in a checkout of its own (links to this repository, an empty `.local`), with
 * bash under `set -euo pipefail`, and checks the answers the README's comments show. The only
 * things set that a new user does not type are PORT (a free one; the blocks read
 * `${PORT:-3000}`) and LOCAL_DIR (the checkout's `.local`). The walk-throughs run concurrently:
 * the tokens one waits a minute for its rate-limit window, the others run meanwhile.
 */
const repo = join(import.meta.dirname, '..', '..');
const walkthroughs = readmeWalkthroughs(readFileSync(join(repo, 'README.md'), 'utf8'));

/** What each walk-through's comments say comes back (key fields and statuses, not byte for byte). */
const expected: Record<string, [string, RegExp][]> = {
  quickstart: [
    ['health', /\{"status":"ok",[^\n]*"components":\[\{"name":"table"/],
    ['capabilities', /"capabilities"/],
    ["the workspace's counters", /"workspace_id":"ws1"[^\n]*"features":\{/],
    ['the OpenAPI document', /"openapi":"3\.1/],
    ['the docs page', /(?<!\d)200\n\{"data"/],
    ['no bindings yet', /\{"data":\[\],"next_cursor":null\}/],
  ],
  tokens: [
    ['the value, once', /"token":"pfi_\w+"/],
    ['the expiry asked for', /"expires_at":"2027-06-30T23:59:59\.000Z"/],
    [
      'the first call',
      /HTTP\/1\.1 200 OK[\s\S]*?ratelimit-policy: "free";q=5;w=60[\s\S]*?"remaining":4,"used":1/i,
    ],
    ['four more', /\}200 200 200 200 HTTP\/1\.1 429/],
    ['the sixth is refused', /HTTP\/1\.1 429 Too Many Requests[\s\S]*?retry-after: \d+[\s\S]*?"status":429/i],
    ['the session shares the API budget', /\}429\n/],
    [
      'management has its own budget',
      /ratelimit-policy: "free-management";q=5;w=60[\s\S]*?x-ratelimit-resource: management/i,
    ],
    ['usage aggregates', /"by_status":\{"200":5,"429":1\}/],
    ['last use recorded', /"last_used_at":"20\d\d-[^"]+","last_used_ip":"127\.0\.0\.1"/],
    ['401 while switched off', /"is_active":false[^\n]*\}401\n/],
    ['rotation refuses the old value', /(?<!\d)401 200\n/],
    ['revoked', /^204\nHTTP\/1\.1 401/m],
    ['refused after revocation', /HTTP\/1\.1 401 Unauthorized[\s\S]*?error="invalid_token"/i],
    [
      'a removed member',
      /"status":403[\s\S]*?"reason":"membership_ended"|"reason":"membership_ended"[\s\S]*?"status":403/,
    ],
  ],
  webhooks: [
    ['the catalog', /"task\.created"/],
    ['the receiver got a signed delivery', /^dlv_\S+ v1,\S+ \{"type":"task\.created".*"task_id":"t1"/m],
    [
      'the delivery history',
      /"status":"DELIVERED"[^\n]*"attempt_count":1|"attempt_count":1[^\n]*"status":"DELIVERED"/,
    ],
    ['a ping', /"type":"ping"|"ping"/],
    ['a new secret', /"secret":"whsec_/],
  ],
  oauth: [
    ['the catalog', /"id":"demo"/],
    ['the callback page', /Return to PronaFlow/],
    ['an active connection', /"object":"oauth_connection"[^\n]*"status":"ACTIVE"/],
    ['tokens hidden', /"access_token":"\[hidden\]"/],
    ['a refresh token', /"has_refresh_token":true/],
    ['revoked', /(?<!\d)204\n/],
  ],
  bindings: [
    ['consent granted', /"status":"GRANTED"/],
    ['the first run', /"status":"SUCCEEDED"[^\n]*"inbound":\{"added":3,"updated":0,"deleted":0/],
    ['the records', /"schema":"pronaflow\.integration\.record\.v1"[^\n]*"title":"Login page returns 500"/],
    [
      'the change written to GitHub',
      /"title":"Login fails on submit"[^\n]*"state":"closed"|"state":"closed"[^\n]*"title":"Login fails on submit"/,
    ],
    ['the second run reads only the change', /"inbound":\{"added":0,"updated":1,"deleted":0,"skipped":2,/],
    [
      'issue 2 closed, as a record',
      /"created":false,[^\n]*"external":\{[^\n]*"id":"2"[^\n]*"status":"done","labels":\["ui"\]/,
    ],
    ['the PronaFlow change goes out', /"trigger":"events"[^\n]*"outbound":\{"added":0,"updated":1,/],
    [
      'its echo is skipped',
      /"trigger":"events"[\s\S]*?"trigger":"manual"[^\n]*"inbound":\{"added":0,"updated":0,"deleted":0,"skipped":2,/,
    ],
    ['a paused binding refuses a run', /"status":"PAUSED"[\s\S]*?"status":409/],
    ['deleted', /(?<!\d)204\n/],
  ],
  plugins: [
    ['search', /"id":"markdown-editor"/],
    ['missing permissions', /"missing_permissions":\[/],
    ['uploads', /upload: 204[\s\S]*upload: 204/],
    ['the schema refuses 9', /Must be at most 8/],
    [
      'an upgrade waits',
      /"status":"UPGRADE_PENDING"[^\n]*"pending_version":"2\.0\.0"|"pending_version":"2\.0\.0"[^\n]*"status":"UPGRADE_PENDING"/,
    ],
    ['uninstalled', /(?<!\d)204\n/],
    ['deleting', /"status":"DELETING"/],
  ],
  consents: [
    ['granted, with a receipt', /"status":"GRANTED"[\s\S]*?"receipt"/],
    ['no duplicate', /(?<!\d)200\n/],
    ['revoked', /"status":"REVOKED"[\s\S]*?"revocation_receipt"/],
    ['the trail verifies', /"valid":true/],
    ['status', /"compliant"/],
  ],
};

/** Output for a failure message: each line cut to 400 characters (the OpenAPI document is one line). */
const shorten = (text: string) =>
  text
    .split('\n')
    .map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l))
    .join('\n');

describe.concurrent('README walk-throughs on a fresh npm start', () => {
  it('finds every walk-through the test knows, and no other', () => {
    expect(walkthroughs.map((w) => w.name).sort()).toEqual(Object.keys(expected).sort());
  });

  for (const w of walkthroughs) {
    it(`${w.name}`, { timeout: 240_000 }, async () => {
      const dir = freshCheckout(repo);
      const localDir = join(dir, '.local');
      const port = await freePort();
      const env = terminalEnv({ PORT: String(port), LOCAL_DIR: localDir });
      const background: Terminal[] = [];
      let last: Terminal | undefined;
      try {
        for (const [i, t] of w.terminals.entries()) {
          const term = runTerminal(t.label, t.script, dir, env);
          if (i < w.terminals.length - 1) {
            background.push(term);
            await waitReady(term, { localDir, port, timeoutMs: 90_000 });
          } else {
            last = term;
          }
        }
        if (!last) throw new Error('no foreground terminal');
        const code = await last.exited;
        await new Promise((r) => setTimeout(r, 200));
        const out = last.output();
        // README_WALKTHROUGH_OUT=<dir>: keep each walk-through's output there (to compare with its comments).
        if (process.env.README_WALKTHROUGH_OUT)
          writeFileSync(join(process.env.README_WALKTHROUGH_OUT, `${w.name}.out`), out);
        const context = () =>
          `${w.name} walk-through output:\n${shorten(out)}\n--- background ---\n${background
            .map((b) => `${b.label}:\n${shorten(b.output().slice(-6000))}`)
            .join('\n')}`;
        expect(code, context()).toBe(0);
        for (const [what, re] of expected[w.name] ?? []) expect(out, `${what}\n${context()}`).toMatch(re);
      } finally {
        if (last) await stopTerminal(last, localDir);
        for (const b of background.reverse()) await stopTerminal(b, localDir);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
