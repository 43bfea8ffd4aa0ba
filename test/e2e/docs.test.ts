import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCS_PAGE_CSP, SWAGGER_UI_VERSION } from '#shared/system/docs.ts';
import { useLocalStack } from '#test/helpers/local-stack.ts';

/**
 * The API reference page in a real browser: Debian's Chromium driven by puppeteer-core, against
 * the local stack. Skipped only when Chromium is not installed (`.ci/run` installs it).
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const SCREENSHOT = join('.local', 'docs-screenshot.png');

if (!hasChromium) {
  console.warn(
    `test/e2e/docs.test.ts SKIPPED: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`,
  );
}

type Doc = {
  paths: Record<string, Record<string, { operationId: string; summary: string; tags: string[] }>>;
};

const e2e = useLocalStack('docs');

describe('the reference page assets', () => {
  it('names the installed Swagger UI version (it versions the asset URLs)', () => {
    const pkg = createRequire(import.meta.url).resolve('swagger-ui-dist/package.json');
    expect(JSON.parse(readFileSync(pkg, 'utf8')).version).toBe(SWAGGER_UI_VERSION);
  });

  it('serves the assets with their types and answers 404 for any other name', async () => {
    const css = await fetch(`${e2e.api}/docs/assets/swagger-ui.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await css.text()).length).toBeGreaterThan(100_000);
    const js = await fetch(`${e2e.api}/docs/assets/swagger-ui-bundle.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const missing = await fetch(`${e2e.api}/docs/assets/index.html`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/problem\+json/);
  });
});

describe.skipIf(!hasChromium)('GET /v1/integration/docs in headless Chromium', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--no-first-run'],
    });
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('renders every tag and a sample of operations, fetching nothing from elsewhere and breaking no CSP rule', async () => {
    const doc = (await (await fetch(`${e2e.api}/openapi.json`)).json()) as Doc;
    const operations = Object.values(doc.paths).flatMap((p) => Object.values(p));
    const tags = [...new Set(operations.flatMap((o) => o.tags))];
    // Every seventh operation, from every tag: a sample spread over the whole document.
    const sample = operations.filter((_, i) => i % 7 === 0);

    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const outside: string[] = [];
    const requested: string[] = [];
    await page.setRequestInterception(true);
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (url.protocol === 'data:') return void req.continue();
      requested.push(`${req.method()} ${url.pathname}`);
      if (url.hostname !== '127.0.0.1') {
        outside.push(req.url());
        return void req.abort('blockedbyclient');
      }
      return void req.continue();
    });
    const consoleErrors: string[] = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error' || /Content Security Policy/i.test(msg.text()))
        consoleErrors.push(msg.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(`pageerror: ${(err as Error).message}`));
    // CSP violations as the page itself sees them (also those the console would not show).
    await page.evaluateOnNewDocument(`window.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) =>
        window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));`);

    const res = await page.goto(`${e2e.api}/docs`, { waitUntil: 'networkidle0', timeout: 20_000 });
    expect(res?.status()).toBe(200);
    const csp = res?.headers()['content-security-policy'];
    expect(csp).toBe(DOCS_PAGE_CSP);
    expect(csp).not.toMatch(/unsafe-eval|unsafe-inline|https?:/);
    await page.waitForSelector('.opblock-tag', { timeout: 15_000 });

    const tagTexts = await page.$$eval('.opblock-tag', (els) => els.map((e) => e.getAttribute('data-tag')));
    expect(tagTexts.sort()).toEqual([...tags].sort());
    const ids = await page.$$eval('.opblock-summary-operation-id', (els) => els.map((e) => e.textContent));
    const summaries = await page.$$eval('.opblock-summary-description', (els) =>
      els.map((e) => e.textContent),
    );
    expect(ids).toHaveLength(operations.length);
    for (const op of sample) {
      expect(ids).toContain(op.operationId);
      expect(summaries).toContain(op.summary);
    }

    expect(outside).toEqual([]);
    expect(requested).toContain('GET /v1/integration/openapi.json');
    expect(await page.evaluate('window.__csp')).toEqual([]);
    expect(consoleErrors).toEqual([]);

    mkdirSync('.local', { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    expect(existsSync(SCREENSHOT)).toBe(true);
    await page.close();
  });
});
