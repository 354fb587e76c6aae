// The demo page in a real browser: Debian's Chromium, driven headless by playwright-core (which
// downloads no browser of its own), against a real gateway and detector serving the face model.
// Chromium is kept off the network by its flags, and the test checks that the page asks nothing
// of anyone but the gateway. The screenshot lands in e2e/artifacts/ (SSD_UPDATE_DOCS=1 also writes
// docs/http-demo.png, the README's picture). SSD_SKIP_BROWSER=1 skips it where Chromium cannot be
// installed (reported as skipped); without it the test fails naming the package.
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { builtinModel, REPO_ROOT, startService, type RunningService } from '../src';

const ASTRONAUT = '/usr/lib/python3/dist-packages/skimage/data/astronaut.png';
const CHROMIUM = '/usr/bin/chromium';
const SKIP = process.env.SSD_SKIP_BROWSER === '1';
const ARTIFACT = path.join(REPO_ROOT, 'e2e', 'artifacts', 'http-demo.png');
/** Flags that keep Chromium from reaching for the network (updates, sync, first-run fetches). */
const OFFLINE_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

const running: RunningService[] = [];
let browser: Browser | undefined;
let origin: string;

const describeBrowser = SKIP ? describe.skip : describe;

describeBrowser('the demo page in headless Chromium', () => {
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (bash tools/test-deps.sh), or set SSD_SKIP_BROWSER=1`);
    if (!existsSync(ASTRONAUT)) throw new Error(`${ASTRONAUT} is missing: install Debian's python3-skimage (bash tools/test-deps.sh)`);
    const detector = await startService('detector', { MODEL_PATH: await builtinModel('faceapi-ssd-mobilenetv1'), DETECTOR_POOL_SIZE: '1' });
    running.push(detector);
    const gateway = await startService('gateway', { GATEWAY_HTTP_PORT: '0', DETECTOR_TARGET: `127.0.0.1:${detector.port}` });
    running.push(gateway);
    origin = `http://127.0.0.1:${gateway.ready['httpPort'] as number}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: OFFLINE_FLAGS });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.all(running.map((s) => s.stop()));
  });

  it("draws one face box over the astronaut's face, follows the threshold, shows the timing, and loads nothing from elsewhere", async () => {
    const page = await browser!.newPage({ viewport: { width: 1000, height: 900 } });
    const requested: string[] = [];
    page.on('request', (request) => void requested.push(request.url()));
    await page.goto(`${origin}/`);
    await page.locator('#model').filter({ hasText: 'faceapi-ssd-mobilenetv1-512' }).waitFor();
    await page.setInputFiles('#file', ASTRONAUT);
    await page.locator('body[data-state="done"]').waitFor();

    const boxes = page.locator('#boxes .box');
    expect(await boxes.count()).toBe(1);
    expect(await boxes.first().getAttribute('data-label')).toBe('face');
    expect(await boxes.first().textContent()).toMatch(/^face 0\.9\d$/);
    // Where it is drawn, in the photo's own pixels: face-api finds her face at (181, 73)-(264, 175).
    const photo = (await page.locator('#photo').boundingBox())!;
    const box = (await boxes.first().boundingBox())!;
    const scale = 512 / photo.width;
    const drawn = [(box.x - photo.x) * scale, (box.y - photo.y) * scale, (box.x + box.width - photo.x) * scale, (box.y + box.height - photo.y) * scale];
    [181, 73, 264, 175].forEach((expected, i) => expect(Math.abs(drawn[i]! - expected)).toBeLessThanOrEqual(4));
    expect(await page.locator('#status').textContent()).toMatch(/^1 of \d+ detections shown · 512×512 px · gateway \d+\.\d ms · round trip \d+\.\d ms/);

    await mkdir(path.dirname(ARTIFACT), { recursive: true });
    await page.screenshot({ path: ARTIFACT, fullPage: true });
    if (process.env.SSD_UPDATE_DOCS === '1') await copyFile(ARTIFACT, path.join(REPO_ROOT, 'docs', 'http-demo.png'));

    // The slider filters what was fetched: above her face's score nothing is drawn; back down, it is.
    await page.locator('#threshold').fill('0.99');
    expect(await boxes.count()).toBe(0);
    await page.locator('#threshold').fill('0.5');
    expect(await boxes.count()).toBe(1);

    expect(requested.filter((url) => !url.startsWith(`${origin}/`) && !url.startsWith('blob:') && !url.startsWith('data:'))).toEqual([]);
    expect(requested).toEqual(expect.arrayContaining([`${origin}/`, `${origin}/app.js`, `${origin}/style.css`, `${origin}/v1/model`, `${origin}/v1/detect?score_threshold=0.05`]));
    await page.close();
  });
});
