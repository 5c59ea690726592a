/**
 * End-to-end test of the in-browser explainer (web/): build it with Vite, serve the static folder on
 * a free localhost port, drive headless Chromium with playwright-core, and check each panel against
 * the library itself. Chromium gets the flags that give it WebGPU on SwiftShader where it can. The
 * page picks WebGPU on a hardware adapter, else WebAssembly, else CPU, and the test accepts any; the
 * last test opens the page with ?backend=webgpu so the WebGPU path runs on SwiftShader too.
 *
 * Screenshots of each panel go to $WEB_SCREENSHOTS, or to <os tmpdir>/rolling-diffusion-web-screenshots.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosineSchedule, initLocalTimes, linearLocalTimes, rescaledInitLocalTimes } from '../../diffusion/index.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const MISSING_CHROMIUM =
  `web e2e: no Chromium at ${CHROMIUM}. Install it with \`apt-get install -y chromium\` ` +
  '(CI installs it in .ci/run), or point CHROMIUM_PATH at a Chromium binary.';
const SCREENSHOTS = process.env['WEB_SCREENSHOTS'] ?? join(tmpdir(), 'rolling-diffusion-web-screenshots');
const REPO = fileURLToPath(new URL('../../', import.meta.url));

const CHROMIUM_ARGS = [
  '--no-sandbox',
  // WebGPU on SwiftShader's Vulkan where the build allows it; without an adapter the page uses CPU.
  '--enable-unsafe-webgpu',
  '--use-angle=swiftshader',
  '--enable-features=Vulkan',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.wasm': 'application/wasm',
};

/** A static file server for the built folder on 127.0.0.1 (a secure context, so navigator.gpu exists). */
function serve(root: string): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    const file = normalize(join(root, path === '/' ? 'index.html' : path));
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404).end('not found');
      return;
    }
    // Cross-origin isolated, as web/vite.config.ts serves it: SharedArrayBuffer, so wasm threads.
    response.writeHead(200, {
      'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-store',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
    });
    response.end(readFileSync(file));
  });
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') return fail(new Error('web e2e: the server has no port'));
      done({ server, url: `http://127.0.0.1:${address.port}/` });
    });
  });
}

if (!HAVE_CHROMIUM && process.env['CI']) {
  describe('web e2e', () => {
    it('needs Chromium', () => {
      throw new Error(MISSING_CHROMIUM);
    });
  });
} else if (!HAVE_CHROMIUM) {
  console.warn(MISSING_CHROMIUM);
  describe('web e2e', () => {
    it.skip(`skipped: ${MISSING_CHROMIUM}`, () => {});
  });
} else {
  describe('web e2e: the explainer runs the library in Chromium', () => {
    type PlaywrightPage = import('playwright-core').Page;
    type PlaywrightContext = import('playwright-core').BrowserContext;
    let outDir = '';
    let profile = '';
    let server: Server | null = null;
    let context: PlaywrightContext | null = null;
    let page: PlaywrightPage;
    const consoleErrors: string[] = [];
    let backend = '';

    beforeAll(async () => {
      const { build } = await import('vite');
      const { chromium } = await import('playwright-core');
      outDir = mkdtempSync(join(tmpdir(), 'rolling-web-dist-'));
      profile = mkdtempSync(join(tmpdir(), 'rolling-web-profile-'));
      mkdirSync(SCREENSHOTS, { recursive: true });
      await build({
        configFile: resolve(REPO, 'web/vite.config.ts'),
        logLevel: 'error',
        build: { outDir, emptyOutDir: true },
      });
      const served = await serve(outDir);
      server = served.server;
      context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: 1200, height: 900 },
      });
      page = context.pages()[0] ?? (await context.newPage());
      page.on('console', (message) => {
        if (message.type() === 'error') consoleErrors.push(message.text());
      });
      page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
      await page.goto(served.url);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
      backend = (await page.getAttribute('#backend', 'data-backend')) ?? '';
      console.log(`web e2e: backend ${backend} ${await page.textContent('#backend-note')}; screenshots in ${SCREENSHOTS}`);
    }, 120_000);

    afterAll(async () => {
      await context?.close();
      await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
      for (const dir of [outDir, profile]) if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** Move a range slider the way a user does: set its value and fire `input`. */
    async function setSlider(id: string, value: number): Promise<void> {
      await page.locator(`#${id}`).evaluate((node, v) => {
        const input = node as HTMLInputElement;
        input.value = String(v);
        input.dispatchEvent(new Event('input', { bubbles: true }));
      }, value);
    }

    async function tableColumn(cls: string): Promise<number[]> {
      return page.$$eval(`#local-time-table tbody td.${cls}`, (cells) => cells.map((c) => Number((c as HTMLElement).dataset['value'])));
    }

    async function screenshot(panel: string, name: string): Promise<void> {
      await page.locator(`#${panel}`).screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
    }

    it('loads without console errors and names the backend it runs on', async () => {
      expect(['webgpu', 'wasm', 'cpu']).toContain(backend);
      expect(await page.textContent('#backend')).toMatch({ webgpu: /WebGPU/, wasm: /WebAssembly/, cpu: /CPU/ }[backend]!);
      if (backend !== 'cpu') expect(await page.textContent('#backend-note')).toMatch(/largest relative error against the CPU backend/);
      // Served cross-origin isolated, the wasm backend runs its Web Workers on shared memory.
      expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true);
      const cores = await page.evaluate(() => navigator.hardwareConcurrency);
      if (backend === 'wasm' && cores > 1) expect(await page.textContent('#backend-note')).toMatch(new RegExp(`WebAssembly SIMD kernels, ${Math.min(8, cores)} threads`));
      expect(await page.locator('#local-time-table tbody tr').count()).toBe(8);
      expect(consoleErrors).toEqual([]);
    });

    it('moving the sliders changes the map numbers to what linearLocalTimes gives', async () => {
      const schedule = cosineSchedule();
      await page.selectOption('#map-select', 'linear');
      const settings = [
        { window: 4, cleanFrames: 0, t: 0.5 },
        { window: 4, cleanFrames: 1, t: 0 },
        { window: 12, cleanFrames: 3, t: 0.37 },
        { window: 16, cleanFrames: 2, t: 1 },
      ];
      for (const { window, cleanFrames, t } of settings) {
        await setSlider('slider-window', window);
        await setSlider('slider-clean', cleanFrames);
        await setSlider('slider-t', t);
        const expected = linearLocalTimes({ window, cleanFrames })(t);
        expect(await tableColumn('local-time')).toEqual(expected);
        // Math.log and Math.tan may differ by an ulp between Chromium's V8 and Node's.
        const logSnr = await tableColumn('log-snr');
        expect(logSnr).toHaveLength(window);
        logSnr.forEach((v, w) => expect(Math.abs(v - schedule.logSnr(expected[w]!))).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(v))));
      }
      // The table follows the chosen map: Eq. 23 and Eq. 37 as well.
      await page.selectOption('#map-select', 'init');
      expect(await tableColumn('local-time')).toEqual(initLocalTimes({ window: 16, cleanFrames: 2 })(1));
      await setSlider('slider-t', 0.25);
      await page.selectOption('#map-select', 'rescaled');
      expect(await tableColumn('local-time')).toEqual(rescaledInitLocalTimes({ window: 16, cleanFrames: 2 })(0.25));

      // Back to a readable state for the screenshots; panel 2 redraws with the same local times.
      await page.selectOption('#map-select', 'linear');
      await setSlider('slider-window', 8);
      await setSlider('slider-clean', 2);
      await setSlider('slider-t', 0.5);
      await page.waitForFunction(() => document.querySelectorAll('#forward-noisy canvas').length === 8);
      const captions = await page.$$eval('#forward-noisy figcaption', (f) => f.map((c) => c.textContent ?? ''));
      expect(captions[7]).toContain(`t_w = ${linearLocalTimes({ window: 8, cleanFrames: 2 })(0.5)[7]!.toFixed(3)}`);
      await screenshot('local-time-panel', 'panel-1-local-time');
      await screenshot('forward-panel', 'panel-2-forward-process');
      expect(consoleErrors).toEqual([]);
    });

    it('training exactly ten steps lowers the held-out loss of both models', async () => {
      // The page stops by itself at its "train until step" target, so no stop click races the loop.
      const stepOf = async () => Number(await page.getAttribute('#train-step', 'data-step'));
      expect(await stepOf()).toBe(0);
      await page.fill('#train-target', '10');
      await page.click('#train-button');
      await page.waitForSelector('#training-panel[data-state="idle"]', { timeout: 100_000 });
      expect(await stepOf()).toBe(10);
      const evalLoss = await page.locator('#eval-loss').evaluate((node) => ({ ...(node as HTMLElement).dataset }));
      const rate = Number(await page.getAttribute('#steps-per-second', 'data-value'));
      const losses = JSON.parse((await page.getAttribute('#loss-chart', 'data-rolling-losses')) ?? '[]') as number[];
      const standardLosses = JSON.parse((await page.getAttribute('#loss-chart', 'data-standard-losses')) ?? '[]') as number[];
      console.log(`web e2e: held-out loss ${JSON.stringify(evalLoss)}, ${rate.toFixed(2)} steps/s on ${backend}`);
      expect(losses).toHaveLength(10);
      expect(standardLosses).toHaveLength(10);
      expect([...losses, ...standardLosses].every(Number.isFinite)).toBe(true);
      expect(rate).toBeGreaterThan(0);
      // The held-out loss is taken before the first step and after every tenth: here, before and after these ten.
      expect(await page.textContent('#eval-loss')).toMatch(/^rolling .*\(step 10\); standard .*\(step 10\)$/);
      for (const method of ['rolling', 'standard']) {
        const initial = Number(evalLoss[`${method}Initial`]);
        const latest = Number(evalLoss[`${method}Latest`]);
        expect(Number.isFinite(initial) && Number.isFinite(latest)).toBe(true);
        expect(latest).toBeLessThan(initial);
      }
      expect(consoleErrors).toEqual([]);
    }, 150_000);

    it('a rollout of eight frames appears, rolling and standard side by side, with FSD per frame', async () => {
      await page.selectOption('#rollout-frames-select', '8');
      await page.selectOption('#rollout-steps-select', '2');
      await page.click('#rollout-button');
      await page.waitForFunction(
        () =>
          document.querySelector<HTMLElement>('#rolling-count')?.dataset['count'] === '8' &&
          document.querySelector<HTMLElement>('#standard-count')?.dataset['count'] === '8',
        null,
        { timeout: 100_000, polling: 200 },
      );
      await page.waitForSelector('#training-panel[data-state="idle"]', { timeout: 30_000 });
      expect(await page.locator('#rollout-rolling canvas').count()).toBe(2 + 8);
      expect(await page.locator('#rollout-standard canvas').count()).toBe(2 + 8);
      const fsd = await page.$$eval('#fsd-table tbody td[data-value]', (cells) => cells.map((c) => Number((c as HTMLElement).dataset['value'])));
      expect(fsd).toHaveLength(3 * 8);
      expect(fsd.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
      await screenshot('training-panel', 'panel-3-training-and-rollout');
      await page.screenshot({ path: join(SCREENSHOTS, 'page.png'), fullPage: true });
      expect(consoleErrors).toEqual([]);
    }, 150_000);

    it('with ?backend=webgpu the page runs on navigator.gpu and its U-ViT matches the CPU backend', async () => {
      // Automatic choice skips software adapters (SwiftShader is slower than the CPU backend), so the
      // WebGPU path is exercised here explicitly: the backend check, then panels 1 and 2 on the GPU.
      const gpuPage = await context!.newPage();
      const errors: string[] = [];
      gpuPage.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });
      gpuPage.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
      try {
        await gpuPage.goto(`${page.url().split('?')[0]}?backend=webgpu`);
        await gpuPage.waitForSelector('body[data-ready="true"]', { timeout: 100_000 });
        const name = await gpuPage.getAttribute('#backend', 'data-backend');
        const note = (await gpuPage.textContent('#backend-note')) ?? '';
        console.log(`web e2e: ?backend=webgpu gives ${name} ${note}`);
        const adapter = await gpuPage.evaluate(async () => (navigator.gpu ? (await navigator.gpu.requestAdapter()) !== null : false));
        if (!adapter) {
          expect(name).toBe('cpu');
          console.warn('web e2e: this Chromium offers no WebGPU adapter; the WebGPU path was not exercised');
        } else {
          expect(name).toBe('webgpu');
          expect(note).toMatch(/largest relative error against the CPU backend/);
          await gpuPage.waitForFunction(() => document.querySelectorAll('#forward-noisy canvas').length === 8, null, { timeout: 60_000 });
          await gpuPage.locator('header').screenshot({ path: join(SCREENSHOTS, 'webgpu-header.png') });
        }
        expect(errors).toEqual([]);
      } finally {
        await gpuPage.close();
      }
    }, 150_000);
  });
}
