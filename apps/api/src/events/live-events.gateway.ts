import { Inject, Logger, OnModuleDestroy } from '@nestjs/common';
import { OnGatewayConnection, OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import { Subscription } from 'rxjs';
import { WebSocket, WebSocketServer } from 'ws';
import { AuthEvents } from '../auth/auth-events';
import { AuthService } from '../auth/auth.service';
import { isOriginAllowed } from '../auth/secrets';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { LiveEventsHub } from './live-events.hub';
import { filterFromSubscribe, LiveFanout } from './live-fanout';
import { LIVE_PER_MESSAGE_DEFLATE, LiveWire, trackLiveWires } from './shared-frame';

/**
 * The widest batch window: file events and progress wait at most this long (under load; a quiet stream sends at
 * once, see LiveFanout.windowMs). Also how often every client's backlog is checked.
 */
const FILE_BATCH_MS = 100;

/** The largest message a client may send (a subscribe naming thousands of modules still fits). */
const MAX_CLIENT_MESSAGE_BYTES = 1024 * 1024;

/** Open sockets are re-checked this often, so an expired session does not keep a stream alive. */
const RECHECK_MS = 30_000;
/** Credential changes that end sessions or tokens: every socket is re-checked at once. */
const REVOKING_EVENTS = new Set(['logout', 'token.revoked', 'password.changed', 'admin.updated', 'admin.deleted']);

/** The upgrade request's credentials, re-checked while the socket lives. */
interface Credentials {
  cookieHeader?: string;
  authorization?: string;
}

/** `lastEventId` from the upgrade URL's query (`/api/v1/events?lastEventId=N`); undefined when absent. */
export function lastEventIdFromUrl(url: string | undefined): number | undefined {
  const raw = new URL(url ?? '/', 'http://x').searchParams.get('lastEventId');
  return raw === null || raw === '' ? undefined : Number(raw);
}

/**
 * `/api/v1/events`: a plain WebSocket any client can use. Authenticated at the HTTP upgrade with the same session
 * cookie or bearer token as REST (refused with 401 before any frame otherwise), and checked against the Origin.
 */
// Clients only send subscribe messages; a bigger one is refused (ws closes the socket with 1009) before it is parsed.
// permessage-deflate is negotiated with every client that offers it (browsers do): stream batches are compressed once
// for all of them (shared-frame.ts). Nest's WsAdapter hands these options to ws's WebSocketServer as they are.
@WebSocketGateway({ path: '/api/v1/events', maxPayload: MAX_CLIENT_MESSAGE_BYTES, perMessageDeflate: LIVE_PER_MESSAGE_DEFLATE })
export class LiveEventsGateway implements OnGatewayInit<WebSocketServer>, OnGatewayConnection<WebSocket>, OnModuleDestroy {
  private readonly logger = new Logger(LiveEventsGateway.name);
  /**
   * Who gets what: a client that stops reading is dropped once its backlog in Node stays over 4 MiB for 3 s (see
   * stall-rule.ts); ingestion and other clients never wait for it.
   */
  private readonly fanout: LiveFanout;
  private readonly credentials = new Map<WebSocket, Credentials>();
  private subscription: Subscription | null = null;
  private revocations: Subscription | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private recheckTimer: NodeJS.Timeout | null = null;
  /** A connection's socket and whether it agreed to shared deflate, from its upgrade request (set in afterInit). */
  private wireOf: ((req: IncomingMessage) => LiveWire) | null = null;

  constructor(
    private readonly hub: LiveEventsHub,
    private readonly auth: AuthService,
    private readonly authEvents: AuthEvents,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.fanout = new LiveFanout(hub, {
      batchMs: FILE_BATCH_MS,
      onDrop: (client) => {
        this.credentials.delete(client);
        this.logger.warn('dropping a live-events client that does not keep up');
      },
    });
  }

  afterInit(server: WebSocketServer): void {
    this.wireOf = trackLiveWires(server);
    // ws reads verifyClient at every upgrade, so setting it here refuses before the handshake completes.
    (server.options as { verifyClient?: unknown }).verifyClient = (
      info: { origin: string; req: IncomingMessage },
      done: (ok: boolean, code?: number, message?: string) => void,
    ) => {
      if (!isOriginAllowed(info.origin || undefined, info.req.headers.host, this.config.allowedOrigins)) {
        done(false, 403, 'origin not allowed');
        return;
      }
      this.auth
        .authenticate({ cookieHeader: info.req.headers.cookie, authorization: info.req.headers.authorization })
        .then((principal) =>
          !principal
            ? done(false, 401, 'authentication required')
            : principal.mustChangePassword
              ? done(false, 403, 'password change required')
              : principal.scope === 'source'
                ? done(false, 403, 'a source-scoped token may only send heartbeats')
                : done(true),
        )
        .catch(() => done(false, 500, 'authentication failed'));
    };
    this.subscription = this.hub.events.subscribe((e) => this.fanout.dispatch(e));
    this.flushTimer = setInterval(() => this.fanout.tick(), FILE_BATCH_MS);
    this.flushTimer.unref();
    this.recheckTimer = setInterval(() => void this.recheckAll(), RECHECK_MS);
    this.recheckTimer.unref();
    this.revocations = this.authEvents.events$.subscribe((e) => {
      if (REVOKING_EVENTS.has(e.type)) void this.recheckAll();
    });
  }

  handleConnection(client: WebSocket, req: IncomingMessage): void {
    this.credentials.set(client, { cookieHeader: req.headers.cookie, authorization: req.headers.authorization });
    client.on('message', (raw) => this.onClientMessage(client, raw.toString()));
    const gone = () => {
      this.fanout.remove(client);
      this.credentials.delete(client);
    };
    client.on('close', gone);
    client.on('error', gone);
    this.fanout.add(client, lastEventIdFromUrl(req.url), this.wireOf!(req));
  }

  /**
   * Closes every socket whose session or token is no longer valid (logged out, revoked, expired, account gone).
   * Sockets opened with the same credentials are checked once for all (a thousand dashboards of one token: one look-up).
   */
  async recheckAll(): Promise<void> {
    const byCredentials = new Map<string, WebSocket[]>();
    for (const [client, c] of this.credentials) {
      const key = JSON.stringify([c.cookieHeader ?? null, c.authorization ?? null]);
      const list = byCredentials.get(key);
      if (list) list.push(client);
      else byCredentials.set(key, [client]);
    }
    for (const clients of byCredentials.values()) {
      const credentials = this.credentials.get(clients[0]!);
      if (!credentials) continue;
      let principal = null;
      try {
        principal = await this.auth.authenticate(credentials);
      } catch {
        /* treated as invalid */
      }
      if (principal) continue;
      for (const client of clients) {
        if (!this.credentials.has(client)) continue;
        this.credentials.delete(client);
        this.fanout.remove(client);
        client.close(4401, 'authentication expired or revoked');
      }
    }
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
    this.revocations?.unsubscribe();
    if (this.flushTimer) clearInterval(this.flushTimer);
    if (this.recheckTimer) clearInterval(this.recheckTimer);
    this.fanout.closeAll(1001, 'server shutting down');
    this.credentials.clear();
  }

  private onClientMessage(client: WebSocket, text: string): void {
    let msg: { type?: unknown; events?: unknown; modules?: unknown; lastEventId?: unknown };
    try {
      msg = JSON.parse(text);
    } catch {
      this.fanout.sendOne(client, { type: 'error', at: new Date().toISOString(), data: { message: 'messages must be JSON' } });
      return;
    }
    if (msg?.type !== 'subscribe') {
      this.fanout.sendOne(client, { type: 'error', at: new Date().toISOString(), data: { message: 'unknown message type; send {"type":"subscribe",...}' } });
      return;
    }
    this.fanout.subscribe(client, filterFromSubscribe(msg), msg.lastEventId);
  }
}
