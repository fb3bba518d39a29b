import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT } from './server';

export const SCREENSHOT_DIR = path.join(REPO_ROOT, 'test-artifacts/screenshots');
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** Debian's Chromium, headless, with nothing that phones home. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
}

/** Saves test-artifacts/screenshots/<name>.png (full page), after fonts and animations settle. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.waitForTimeout(300);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Collects console errors and failed page requests, to print when a step fails. */
export function watchPage(page: Page): () => string {
  const lines: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') lines.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => lines.push(`pageerror: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 500) lines.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
  });
  return () => lines.join('\n');
}

/** A page of its own context at the desktop size, with a default time limit per action and watchPage's log. */
export async function desktopPage(browser: Browser, timeoutMs = 20_000): Promise<{ page: Page; log: () => string }> {
  const page = await (await browser.newContext({ viewport: DESKTOP })).newPage();
  page.setDefaultTimeout(timeoutMs);
  return { page, log: watchPage(page) };
}

/** Runs one step of a browser test; a failure carries what the browser said (see watchPage). */
export async function withBrowserLog<T>(log: () => string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const text = log();
    if (text) (err as Error).message += `\n--- browser log ---\n${text}`;
    throw err;
  }
}
