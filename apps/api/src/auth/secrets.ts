import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Name of the HttpOnly cookie that carries the session token. */
export const SESSION_COOKIE = 'rsynchub_session';
/** API tokens start with this, so they are recognisable in scripts and by secret scanners. */
export const API_TOKEN_PREFIX = 'rh_';
/** Session tokens start with this; it keeps them apart from API tokens when sent as a bearer token. */
export const SESSION_TOKEN_PREFIX = 'rhs_';
/** How many leading characters of an API token are kept in clear for display. */
export const API_TOKEN_DISPLAY_CHARS = 10;

/** 32 random bytes, base64url, behind the given prefix. */
export function generateSecretToken(prefix: string): string {
  return prefix + randomBytes(32).toString('base64url');
}

/** Tokens are high-entropy, so a plain SHA-256 is enough to store them (no salt or slow hash needed). */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** A strong password for the first-start admin: 24 characters from 18 random bytes (144 bits). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

/** The token of an `Authorization: Bearer <token>` header, or null for any other scheme or shape. */
export function bearerToken(authorization: string | undefined): string | null {
  if (!authorization) return null;
  const match = /^Bearer[ ]+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(authorization);
  return match ? match[1] : null;
}

/** Value of one cookie in a `Cookie` request header (used where cookie-parser has not run, e.g. WebSocket upgrades). */
export function readCookie(cookieHeader: string | undefined, name: string): string | null {
  if (!cookieHeader) return null;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  }
  return null;
}

/**
 * Whether a cookie-authenticated mutating request may proceed given its `Origin` header.
 * Absent Origin: a non-browser client, which cannot be tricked into sending the cookie, so allowed.
 * Otherwise the origin's host must equal the request's Host, or the origin must be configured as allowed.
 */
export function isOriginAllowed(origin: string | undefined, host: string | undefined, allowedOrigins: readonly string[]): boolean {
  if (origin === undefined || origin === '') return true;
  const normalised = origin.replace(/\/+$/, '').toLowerCase();
  if (allowedOrigins.some((o) => o.replace(/\/+$/, '').toLowerCase() === normalised)) return true;
  if (!host) return false;
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false; // includes the opaque "null" origin
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return false;
  let requestHost: string;
  try {
    // Parse the Host the same way, so default ports ("example.com:443" vs "example.com") compare equal.
    requestHost = new URL(`${parsed.protocol}//${host}`).host;
  } catch {
    return false;
  }
  return parsed.host.toLowerCase() === requestHost.toLowerCase();
}

/** The first characters of an API token, kept in clear to recognise it in lists. */
export function displayPrefix(token: string): string {
  return token.slice(0, API_TOKEN_DISPLAY_CHARS);
}
