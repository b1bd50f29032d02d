// Log in to Label Studio with headless Debian chromium (playwright-core), open one task's
// labeling view, count the pre-annotation regions it shows and save a screenshot.
// Usage: node labeling_view.js URL EMAIL PASSWORD PROJECT_ID TASK_ID SCREENSHOT_PATH
// Prints one JSON line: {"regions": N, "labels": [...], "image_loaded": bool, "url": ...}.
'use strict';
const { chromium } = require('playwright-core');

async function main() {
  const [url, email, password, projectId, taskId, shot] = process.argv.slice(2);
  if (!shot) throw new Error('usage: node labeling_view.js URL EMAIL PASSWORD PROJECT TASK PNG');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(60000);
    await page.goto(`${url}/user/login/`);
    await page.fill('input[name="email"]', email);
    await page.fill('input[name="password"]', password);
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"], input[type="submit"]')]);
    await page.goto(`${url}/projects/${projectId}/data?task=${taskId}`);
    // the labeling editor lists regions in its outliner once the task has loaded
    const regionSel = '[class*="outliner-item"], [class*="region-item"], [class*="RegionItem"]';
    await page.waitForSelector(regionSel, { timeout: 60000 });
    await page.waitForFunction(() => {
      const img = document.querySelector('[class*="lsf-main-view"] img, [class*="image-element"] img, img[src*="local-files"]');
      return !img || (img.complete && img.naturalWidth > 0);
    }, null, { timeout: 30000 }).catch(() => {});
    await page.waitForTimeout(1500);
    const info = await page.evaluate((sel) => {
      const items = Array.from(document.querySelectorAll(sel));
      const img = document.querySelector('img[src*="local-files"]');
      return {
        regions: items.length,
        labels: items.map((el) => el.textContent.trim()).filter(Boolean).slice(0, 20),
        image_loaded: !!(img && img.complete && img.naturalWidth > 0),
      };
    }, regionSel);
    await page.screenshot({ path: shot, fullPage: false });
    info.url = page.url();
    console.log(JSON.stringify(info));
  } finally {
    await browser.close();
  }
}

main().catch((err) => { console.error(String(err && err.stack || err)); process.exit(1); });
