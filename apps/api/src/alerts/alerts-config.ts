/** Alert settings read from the environment (README "Configuration"); rule thresholds live in the database. */
export interface AlertsConfig {
  /** How often every rule is evaluated; daemon, session and auth events also trigger an evaluation at once. */
  intervalMs: number;
  /** Waits between delivery attempts of one message (attempts = delays + 1). */
  retryDelaysMs: number[];
}

export const ALERTS_CONFIG = Symbol('ALERTS_CONFIG');

export function loadAlertsConfig(env: NodeJS.ProcessEnv = process.env): AlertsConfig {
  const raw = env.RSYNCHUB_ALERT_INTERVAL_MS;
  let intervalMs = 30_000;
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 100 || n > 3_600_000) throw new Error(`RSYNCHUB_ALERT_INTERVAL_MS must be an integer between 100 and 3600000, got "${raw}"`);
    intervalMs = n;
  }
  return { intervalMs, retryDelaysMs: [2_000, 10_000] };
}
