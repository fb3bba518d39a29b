import compression from 'compression';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import * as path from 'node:path';

/**
 * Content-Security-Policy for the console and the API. Scripts only from our own origin (no inline script: the console
 * is built with inlineCritical off, so index.html has no onload handler). Styles allow 'unsafe-inline' because Angular
 * and Angular Material add component styles as <style> elements at run time; style injection cannot run script.
 * connect-src 'self' covers the same-origin WebSocket (ws:/wss:) in current browsers.
 */
const CSP_DIRECTIVES = {
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  'style-src': ["'self'", "'unsafe-inline'"],
  'img-src': ["'self'", 'data:'],
  'font-src': ["'self'", 'data:'],
  'connect-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'self'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
};

/**
 * Security headers on every response (helmet): CSP, X-Frame-Options DENY (and frame-ancestors 'none'),
 * X-Content-Type-Options nosniff, Referrer-Policy no-referrer, COOP/CORP same-origin. HSTS only on requests that
 * arrived over HTTPS (directly or through a trusted proxy): sending it on plain HTTP means nothing, and the operator
 * may not serve TLS at all.
 */
export function securityHeaders(): RequestHandler[] {
  return [
    helmet({
      contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
      frameguard: { action: 'deny' },
      referrerPolicy: { policy: 'no-referrer' },
      strictTransportSecurity: false,
      crossOriginEmbedderPolicy: false,
    }),
    (req: Request, res: Response, next: NextFunction) => {
      if (req.secure) res.setHeader('Strict-Transport-Security', 'max-age=15552000');
      next();
    },
  ];
}

/** API answers (data, tokens, generated passwords) are never stored by browsers or shared caches. */
export function noStoreForApi(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (isApiPath(req.path)) res.setHeader('Cache-Control', 'no-store');
    next();
  };
}

/**
 * gzip/brotli for the console's static files only. API responses are left uncompressed: they can carry secrets next
 * to reflected input (the BREACH pattern), and they are small.
 */
export function compressStatic(): RequestHandler {
  return compression({ filter: (req, res) => !isApiPath(req.path) && compression.filter(req, res) });
}

/** Angular's build names bundles `name-HASH.ext` (outputHashing all): such files never change, so cache them for good. */
const HASHED_ASSET = /-[A-Z0-9]{8,}\.(?:js|css|woff2?|ttf|svg|png|jpg|webp|ico|map)$/;

/** Cache-Control for a static file of the console: immutable for hashed bundles, revalidate for the rest. */
export function staticCacheControl(file: string): string {
  return HASHED_ASSET.test(path.basename(file)) ? 'public, max-age=31536000, immutable' : 'no-cache';
}

function isApiPath(p: string): boolean {
  return p === '/api' || p.startsWith('/api/') || p === '/metrics';
}
