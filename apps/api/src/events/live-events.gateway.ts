import { Inject, Logger, OnModuleDestroy } from '@nestjs/common';
import { OnGatewayConnection, OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import { Subscription } from 'rxjs';
import { WebSocket, WebSocketServer } from 'ws';
import { LIVE_EVENT_TYPES, LiveEventType, LiveHello, LiveMessage, LiveResync } from '@rsynchub/contracts';
import { AuthEvents } from '../auth/auth-events';
import { AuthService } from '../auth/auth.service';
import { isOriginAllowed } from '../auth/secrets';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { LiveEvent, LiveEventsHub } from './live-events.hub';

/** File events are gathered and sent as arrays at most this often, so a burst never floods a browser. */
const FILE_BATCH_MS = 100;
/** A client whose unsent data exceeds this is dropped (it can reconnect); ingestion and others never wait for it. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/**
 * ...once it has stayed above that for this long. One big batch (a flood of files, a replay) is above the limit for
 * the few milliseconds a reading client needs to take it; a client that stopped reading stays above it.
 */
const STALL_MS = 3_000;

/** Open sockets are re-checked this often, so an expired session does not keep a stream alive. */
const RECHECK_MS = 30_000;
/** Credential changes that end sessions or tokens: every socket is re-checked at once. */
const REVOKING_EVENTS = new Set(['logout', 'token.revoked', 'password.changed', 'admin.updated', 'admin.deleted']);

interface ClientState {
  /** The upgrade request's credentials, re-checked while the socket lives. */
  credentials: { cookieHeader?: string; authorization?: string };
  events: Set<LiveEventType> | null;
  modules: Set<string> | null;
  pendingFiles: unknown[];
  /** Since when the client's unsent data has been above MAX_BUFFERED_BYTES (null: it is not). */
  overLimitSince: number | null;
  /** The id of the newest file event in pendingFiles: the batch goes out with it. */
  pendingFilesId: number;
  lastFilesSentAt: number;
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
@WebSocketGateway({ path: '/api/v1/events' })
export class LiveEventsGateway implements OnGatewayInit<WebSocketServer>, OnGatewayConnection<WebSocket>, OnModuleDestroy {
  private readonly logger = new Logger(LiveEventsGateway.name);
  private readonly clients = new Map<WebSocket, ClientState>();
  private subscription: Subscription | null = null;
  private revocations: Subscription | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private recheckTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly hub: LiveEventsHub,
    private readonly auth: AuthService,
    private readonly authEvents: AuthEvents,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  afterInit(server: WebSocketServer): void {
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
    this.subscription = this.hub.events.subscribe((e) => this.dispatch(e));
    this.flushTimer = setInterval(() => this.flushFiles(), FILE_BATCH_MS);
    this.flushTimer.unref();
    this.recheckTimer = setInterval(() => void this.recheckAll(), RECHECK_MS);
    this.recheckTimer.unref();
    this.revocations = this.authEvents.events$.subscribe((e) => {
      if (REVOKING_EVENTS.has(e.type)) void this.recheckAll();
    });
  }

  handleConnection(client: WebSocket, req: IncomingMessage): void {
    const state: ClientState = {
      credentials: { cookieHeader: req.headers.cookie, authorization: req.headers.authorization },
      events: null,
      modules: null,
      pendingFiles: [],
      overLimitSince: null,
      pendingFilesId: 0,
      lastFilesSentAt: 0,
    };
    client.on('message', (raw) => this.onClientMessage(client, state, raw.toString()));
    client.on('close', () => this.clients.delete(client));
    client.on('error', () => this.clients.delete(client));
    const hello: LiveHello = { events: LIVE_EVENT_TYPES, lastEventId: this.hub.lastEventId };
    this.send(client, { type: 'hello', at: new Date().toISOString(), data: hello });
    // Replay and registration happen in one synchronous step: no event can fall between them or come twice.
    const resumeFrom = lastEventIdFromUrl(req.url);
    if (resumeFrom !== undefined) this.replay(client, state, resumeFrom);
    this.clients.set(client, state);
  }

  /** Sends the events after `afterId` that the client wants, or `resync` when they are gone. */
  private replay(client: WebSocket, state: ClientState, afterId: number): void {
    const answer = this.hub.since(afterId);
    if (!answer.ok) {
      const resync: LiveResync = { reason: answer.reason, lastEventId: this.hub.lastEventId };
      this.send(client, { type: 'resync', at: new Date().toISOString(), data: resync });
      return;
    }
    for (const e of answer.events) if (this.wants(state, e)) this.send(client, { type: e.type, id: e.id, at: e.at, data: e.data });
  }

  /** Closes every socket whose session or token is no longer valid (logged out, revoked, expired, account gone). */
  async recheckAll(): Promise<void> {
    for (const [client, state] of [...this.clients]) {
      let principal = null;
      try {
        principal = await this.auth.authenticate(state.credentials);
      } catch {
        /* treated as invalid */
      }
      if (!principal && this.clients.has(client)) {
        this.clients.delete(client);
        client.close(4401, 'authentication expired or revoked');
      }
    }
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
    this.revocations?.unsubscribe();
    if (this.flushTimer) clearInterval(this.flushTimer);
    if (this.recheckTimer) clearInterval(this.recheckTimer);
    for (const client of this.clients.keys()) client.close(1001, 'server shutting down');
  }

  private onClientMessage(client: WebSocket, state: ClientState, text: string): void {
    let msg: { type?: unknown; events?: unknown; modules?: unknown; lastEventId?: unknown };
    try {
      msg = JSON.parse(text);
    } catch {
      this.send(client, { type: 'error', at: new Date().toISOString(), data: { message: 'messages must be JSON' } });
      return;
    }
    if (msg.type !== 'subscribe') {
      this.send(client, { type: 'error', at: new Date().toISOString(), data: { message: 'unknown message type; send {"type":"subscribe",...}' } });
      return;
    }
    const events = Array.isArray(msg.events) ? msg.events.filter((e): e is LiveEventType => LIVE_EVENT_TYPES.includes(e as LiveEventType)) : null;
    const modules = Array.isArray(msg.modules) ? msg.modules.filter((m): m is string => typeof m === 'string').map((m) => m.toLowerCase()) : null;
    state.events = events ? new Set(events) : null;
    state.modules = modules ? new Set(modules) : null;
    if (msg.lastEventId !== undefined) {
      // Whatever is waiting in the batch is in the replay too (if wanted): drop it rather than send it twice.
      state.pendingFiles = [];
      this.replay(client, state, typeof msg.lastEventId === 'number' ? msg.lastEventId : Number.NaN);
    }
  }

  private wants(state: ClientState, e: LiveEvent): boolean {
    if (state.events && !state.events.has(e.type)) return false;
    if (state.modules && e.module !== null && !state.modules.has(e.module.toLowerCase())) return false;
    if (state.modules && e.module === null && (e.type.startsWith('session.') || e.type === 'auth.failed')) return false;
    return true;
  }

  private dispatch(e: LiveEvent): void {
    for (const [client, state] of this.clients) {
      if (!this.wants(state, e)) continue;
      if (e.type === 'session.file') {
        state.pendingFiles.push(...(e.data as unknown[]));
        state.pendingFilesId = e.id;
        // Leading edge: a quiet stream sends at once; a busy one is gathered and sent by the timer.
        if (Date.now() - state.lastFilesSentAt >= FILE_BATCH_MS) this.flushClient(client, state);
        continue;
      }
      // Waiting files go out first: ids on the wire only ever increase, so "the last id I saw" is a true resume point.
      if (state.pendingFiles.length > 0) this.flushClient(client, state);
      this.send(client, { type: e.type, id: e.id, at: e.at, data: e.data });
    }
  }

  private flushFiles(): void {
    for (const [client, state] of this.clients) {
      if (state.pendingFiles.length > 0) this.flushClient(client, state);
      // Nothing new to send: still check. send() checks before it queues, so the message that pushed a client over
      // the limit may have been the last one; without this check such a client would never be dropped.
      else this.stalled(client, state);
    }
  }

  private flushClient(client: WebSocket, state: ClientState): void {
    const batch = state.pendingFiles;
    state.pendingFiles = [];
    state.lastFilesSentAt = Date.now();
    this.send(client, { type: 'session.file', id: state.pendingFilesId, at: new Date().toISOString(), data: batch });
  }

  /** True (and the client dropped) when it has not taken its data for STALL_MS; ingestion and others never wait. */
  private stalled(client: WebSocket, state: ClientState): boolean {
    if (client.bufferedAmount <= MAX_BUFFERED_BYTES) {
      state.overLimitSince = null;
      return false;
    }
    const now = Date.now();
    state.overLimitSince ??= now;
    if (now - state.overLimitSince < STALL_MS) return false;
    this.logger.warn('dropping a live-events client that does not keep up');
    this.clients.delete(client);
    client.terminate();
    return true;
  }

  private send(client: WebSocket, msg: LiveMessage): void {
    if (client.readyState !== WebSocket.OPEN) return;
    const state = this.clients.get(client);
    if (state && this.stalled(client, state)) return;
    client.send(JSON.stringify(msg));
  }
}
