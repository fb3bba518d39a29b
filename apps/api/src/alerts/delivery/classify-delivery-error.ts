/** A webhook answered with a non-2xx status. Only the status is kept: the answer's body is the remote's text. */
export class WebhookStatusError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

interface ErrorShape {
  name?: string;
  code?: string;
  errno?: string | number;
  message?: string;
  responseCode?: number;
  cause?: ErrorShape;
}

/**
 * A delivery failure in a few fixed words: connection refused, timed out, host not found, TLS failed, authentication
 * failed, rejected (with the SMTP code), not an SMTP server, HTTP status. Never the remote's own text (an SMTP banner
 * or error line, an HTTP answer): "Send test" could otherwise read any service the server can reach, one port at a
 * time. Never the URL either (a webhook URL may carry credentials).
 */
export function classifyDeliveryError(err: unknown): string {
  if (err instanceof WebhookStatusError) return `HTTP ${err.status}`;
  const chain: ErrorShape[] = [];
  for (let e = err as ErrorShape | undefined; e && typeof e === 'object' && chain.length < 5; e = e.cause) chain.push(e);
  const codes = chain.flatMap((e) => [e.code, typeof e.errno === 'string' ? e.errno : undefined, e.name]).filter((c): c is string => typeof c === 'string');
  const text = chain.map((e) => String(e.message ?? '')).join(' ');
  const has = (...names: string[]) => names.some((n) => codes.includes(n) || new RegExp(`\\b${n}\\b`).test(text));
  if (has('ECONNREFUSED')) return 'connection refused';
  if (has('ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EDNS')) return 'host not found';
  if (has('ETIMEDOUT', 'ETIMEOUT', 'TimeoutError', 'AbortError')) return 'timed out';
  if (has('EAUTH')) return 'authentication failed';
  if (has('ETLS') || codes.some((c) => /^ERR_(TLS|SSL)_|CERT|SELF_SIGNED|EPROTO$/.test(c)) || /\b(SSL|TLS)\b|certificate/i.test(text)) return 'TLS failed';
  if (has('EPROTOCOL')) return 'the server did not answer as an SMTP server';
  const responseCode = chain.find((e) => typeof e.responseCode === 'number')?.responseCode;
  if (has('EENVELOPE', 'EMESSAGE') || (responseCode !== undefined && responseCode >= 400)) {
    return `rejected by the server${responseCode !== undefined ? ` (SMTP ${responseCode})` : ''}`;
  }
  if (has('ECONNRESET', 'EPIPE', 'ESOCKET', 'ECONNECTION', 'EHOSTUNREACH', 'ENETUNREACH')) return 'connection failed';
  return 'delivery failed';
}
