import { Injectable, InjectionToken, OnDestroy, inject, signal } from '@angular/core';
import { Observable, Subject, filter, map } from 'rxjs';
import { API_PREFIX, type LiveHello, type LiveMessage, type LiveMessageMap, type LiveResync, type LiveSubscribe } from '@rsynchub/contracts';

/** The part of WebSocket this service uses, so tests can hand in a fake. */
export interface SocketLike {
  readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export const SOCKET_FACTORY = new InjectionToken<(url: string) => SocketLike>('SOCKET_FACTORY', {
  providedIn: 'root',
  factory: () => (url: string) => new WebSocket(url) as unknown as SocketLike,
});

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** 0..1: the delay is scaled by a random factor in [1 - jitter, 1]. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.3 };

/** Delay before reconnect attempt number `attempt` (0-based): exponential, capped, with jitter so clients spread out. */
export function reconnectDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * Math.pow(policy.factor, Math.max(0, attempt)));
  return Math.round(base * (1 - policy.jitter * random()));
}

export function eventsUrl(loc: { protocol: string; host: string }): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}${API_PREFIX}/events`;
}

export type LiveState = 'idle' | 'connecting' | 'open' | 'reconnecting';

/** The stream URL with the resume point, when there is one. */
export function resumeUrl(url: string, lastEventId: number | null): string {
  return lastEventId === null ? url : `${url}${url.includes('?') ? '&' : '?'}lastEventId=${lastEventId}`;
}

/**
 * The server's live stream (`/api/v1/events`), one socket for the whole app. Reconnects by itself with backoff after
 * any close it did not ask for, resuming from the last event id it saw (the server replays what was missed);
 * `state()` tells the UI whether figures are live; `refetch$` tells pages to load their data again (after every
 * reconnect, and when the server says `resync`: the missed events are gone).
 */
@Injectable({ providedIn: 'root' })
export class LiveEventsService implements OnDestroy {
  private readonly factory = inject(SOCKET_FACTORY);
  private readonly incoming = new Subject<LiveMessage>();
  private socket: SocketLike | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private wanted = false;
  private subscription: LiveSubscribe | null = null;
  private readonly refetch = new Subject<void>();
  private hasOpened = false;
  /** The newest event id seen: the resume point for the next connection. */
  lastEventId: number | null = null;

  readonly state = signal<LiveState>('idle');
  /** Failed attempts since the last successful open. */
  readonly attempts = signal(0);
  readonly nextRetryMs = signal<number | null>(null);
  readonly messages$: Observable<LiveMessage> = this.incoming.asObservable();
  /** Fires when whatever a page loaded may be stale: after a reconnect, or on the server's `resync`. */
  readonly refetch$: Observable<void> = this.refetch.asObservable();
  policy: BackoffPolicy = DEFAULT_BACKOFF;
  url = typeof location !== 'undefined' ? eventsUrl(location) : 'ws://localhost/api/v1/events';

  on<K extends keyof LiveMessageMap>(type: K): Observable<LiveMessageMap[K]> {
    return this.messages$.pipe(
      filter((m) => m.type === type),
      map((m) => m.data as LiveMessageMap[K]),
    );
  }

  connect(): void {
    this.wanted = true;
    if (this.socket || this.timer) return;
    this.open();
  }

  disconnect(): void {
    this.wanted = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const s = this.socket;
    this.socket = null;
    s?.close(1000, 'logout');
    this.state.set('idle');
    this.nextRetryMs.set(null);
    this.lastEventId = null;
    this.hasOpened = false;
  }

  /** Narrow the stream; kept and re-sent after every reconnect. */
  subscribe(sub: Omit<LiveSubscribe, 'type'>): void {
    this.subscription = { type: 'subscribe', ...sub };
    if (this.socket && this.socket.readyState === 1) this.socket.send(JSON.stringify(this.subscription));
  }

  ngOnDestroy(): void {
    this.disconnect();
    this.incoming.complete();
    this.refetch.complete();
  }

  private open(): void {
    this.timer = null;
    this.state.set(this.attempts() === 0 ? 'connecting' : 'reconnecting');
    let socket: SocketLike;
    try {
      socket = this.factory(resumeUrl(this.url, this.lastEventId));
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.attempts.set(0);
      this.nextRetryMs.set(null);
      this.state.set('open');
      if (this.subscription) socket.send(JSON.stringify(this.subscription));
      // The server may have restarted, or pages may hold errors from while it was away: load again.
      if (this.hasOpened) this.refetch.next();
      this.hasOpened = true;
    };
    socket.onmessage = (ev) => {
      if (this.socket !== socket || typeof ev.data !== 'string') return;
      let msg: LiveMessage;
      try {
        msg = JSON.parse(ev.data) as LiveMessage;
      } catch {
        return; // not ours; ignore rather than break the stream
      }
      if (!msg || typeof msg.type !== 'string') return;
      if (typeof msg.id === 'number' && (this.lastEventId === null || msg.id > this.lastEventId)) this.lastEventId = msg.id;
      if (msg.type === 'hello' && this.lastEventId === null) {
        const hello = msg.data as Partial<LiveHello> | null;
        if (typeof hello?.lastEventId === 'number') this.lastEventId = hello.lastEventId;
      }
      if (msg.type === 'resync') {
        const resync = msg.data as Partial<LiveResync> | null;
        this.lastEventId = typeof resync?.lastEventId === 'number' ? resync.lastEventId : null;
        this.refetch.next();
      }
      this.incoming.next(msg);
    };
    socket.onerror = () => {
      /* a close always follows; reconnect happens there */
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.wanted) this.scheduleReconnect();
      else this.state.set('idle');
    };
  }

  private scheduleReconnect(): void {
    const delay = reconnectDelay(this.attempts(), this.policy);
    this.attempts.update((n) => n + 1);
    this.state.set('reconnecting');
    this.nextRetryMs.set(delay);
    this.timer = setTimeout(() => this.open(), delay);
  }
}
