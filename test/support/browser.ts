// Debian's Chromium driven by playwright-core (1.64 matches Chromium 156); never a downloaded browser.
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const OUTPUT_DIR = resolve(import.meta.dir, "../../.tmp/e2e");
export const SCREENSHOT_DIR = resolve(import.meta.dir, "../../docs/screenshots");

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: run scripts/ensure-tools.sh --browser`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

/** Saves under the git-ignored test output folder, and also as a README screenshot when `readme` names it. */
export async function screenshot(page: Page, name: string, readme?: string) {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  await page.screenshot({ path: join(OUTPUT_DIR, `${name}.png`) });
  if (readme) {
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOT_DIR, `${readme}.png`) });
  }
}
