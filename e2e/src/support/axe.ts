import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { REPO_ROOT } from './server';

const AXE_SOURCE = path.join(REPO_ROOT, 'node_modules/axe-core/axe.min.js');
let axeSource: string | null = null;

export interface AxeFinding {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string; html: string; summary: string }[];
}

/**
 * Runs axe-core (every rule it has: WCAG 2.0-2.2 A/AA and best practices) in the page as it is now and returns the
 * violations of the given impacts. axe is evaluated through the DevTools protocol, not a <script> tag: the console's
 * Content-Security-Policy (scripts only from the server) stays in force while it is checked.
 */
export async function axeViolations(page: Page, impacts: readonly string[] = ['serious', 'critical']): Promise<AxeFinding[]> {
  axeSource ??= fs.readFileSync(AXE_SOURCE, 'utf8');
  const loaded = await page.evaluate('typeof window.axe === "object"');
  if (!loaded) await page.evaluate(axeSource);
  const found = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), html: n.html.slice(0, 200), summary: n.failureSummary || '' })),
    })))`)) as AxeFinding[];
  return found.filter((v) => v.impact !== null && impacts.includes(v.impact));
}

/** One line per failing node, for an assertion message. */
export function describeFindings(where: string, findings: AxeFinding[]): string {
  return findings
    .flatMap((v) => v.nodes.map((n) => `${where}: [${v.impact}] ${v.id} (${v.help}) at ${n.target}\n    ${n.html}\n    ${n.summary.replace(/\n/g, '\n    ')}`))
    .join('\n');
}
