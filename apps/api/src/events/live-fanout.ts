/**
 * The live stream's fan-out: which client gets which event, in which frame. Clients with the same filter form a group;
 * each event is serialized once (once per group for a batch of files) and the same bytes are handed to every member,
 * so the work per client and per event batch is a filter lookup and a socket write — no per-client JSON, and for
 * clients that negotiated permessage-deflate, no per-client compression (shared-frame.ts). Knows
 * nothing of Nest or auth: the gateway hands it sockets that passed the upgrade checks.
 */
import { WebSocket } from 'ws';
import { LIVE_EVENT_TYPES, LiveEventType, LiveHello, LiveMessage, LiveResync } from '@rsynchub/contracts';
import type { LiveEvent } from './live-events.hub';
import { fileBatchFrame, fileFragment, messageFrame } from './live-frames';
import type { ReplayAnswer } from './replay-buffer';
import { FrameStats, LiveWire, SharedFrame } from './shared-frame';
import { LIVE_STALL_LIMITS, StallLimits, stallVerdict } from './stall-rule';

/** What the fan-out needs of the hub. */
export interface LiveEventSource {
  readonly lastEventId: number;
  since(afterId: number): ReplayAnswer<LiveEvent>;
}

export interface LiveFanoutOptions {
  /**
   * The longest a file event or progress snapshot waits to be sent (the batch window at its widest, under load).
   * A quiet stream sends at once; see `minBatchMs` and `costFactor` for how wide the window is in between.
   */
  batchMs: number;
  /** Under a steady stream, batches go out at most this often per client (so a busy push never floods a browser). */
  minBatchMs: number;
  /**
   * The window also grows to `costFactor` times what the last send to every client took, so the fan-out never takes
   * more than about 1 / (1 + costFactor) of the CPU: many clients get fewer, bigger batches; few get them at once.
   */
  costFactor: number;
  limits: StallLimits;
  /** Called when a client is dropped for not keeping up (after it was terminated). */
  onDrop: (client: WebSocket) => void;
  now: () => number;
}

export const DEFAULT_FANOUT_OPTIONS: LiveFanoutOptions = {
  batchMs: 100,
  minBatchMs: 20,
  costFactor: 4,
  limits: LIVE_STALL_LIMITS,
  onDrop: () => undefined,
  now: Date.now,
};

/** Clients with one filter: they get the same frames. */
interface Group {
  key: string;
  events: Set<LiveEventType> | null;
  /** Lower-cased. */
  modules: Set<string> | null;
  members: Set<WebSocket>;
  /** What waits for the next batch, in id order. */
  pending: Pending[];
}

/**
 * A run of file events (one JSON fragment per event, see fileFragment; the run goes out as one `session.file` with
 * the id of its newest event), or a running session's progress snapshot.
 */
type Pending = { kind: 'files'; fragments: string[]; id: number } | { kind: 'progress'; session: unknown; event: LiveEvent };

interface Member {
  group: Group;
  /** Where its shared frames are written, plain or deflated (see shared-frame.ts). */
  wire: LiveWire;
  /** Since when the client's unsent data has been above the limit (null: it is not). */
  overLimitSince: number | null;
  /** The id of the newest event this client was sent (or did not want): where a catch-up replay starts. */
  lastSentId: number;
  /**
   * Set while the client is behind: its backlog went over the limit, so frames are not queued for it any more (its
   * backlog stays bounded) and it gets what it missed, or a `resync`, once it has taken most of its backlog.
   */
  behind: boolean;
}

export interface LiveFilter {
  events: LiveEventType[] | null;
  modules: string[] | null;
}

/** The filter of a subscribe message (unknown event types and non-strings ignored; absent: everything). */
export function filterFromSubscribe(msg: { events?: unknown; modules?: unknown }): LiveFilter {
  const events = Array.isArray(msg.events) ? msg.events.filter((e): e is LiveEventType => LIVE_EVENT_TYPES.includes(e as LiveEventType)) : null;
  const modules = Array.isArray(msg.modules) ? msg.modules.filter((m): m is string => typeof m === 'string').map((m) => m.toLowerCase()) : null;
  return { events, modules };
}

function filterKey(f: LiveFilter): string {
  const sorted = (xs: string[] | null) => (xs ? [...new Set(xs)].sort() : null);
  return JSON.stringify([sorted(f.events), sorted(f.modules)]);
}

function wants(group: Group, e: LiveEvent, module: string | null): boolean {
  if (group.events && !group.events.has(e.type)) return false;
  if (group.modules && module !== null && !group.modules.has(module)) return false;
  if (group.modules && module === null && (e.type.startsWith('session.') || e.type === 'auth.failed')) return false;
  return true;
}

function addFiles(pending: Pending[], fragment: string, id: number): void {
  const last = pending.at(-1);
  if (last?.kind === 'files') {
    last.fragments.push(fragment);
    last.id = id;
  } else {
    pending.push({ kind: 'files', fragments: [fragment], id });
  }
}

/**
 * A progress snapshot replaces a waiting one of the same session (clients replace, never add up, so the older one
 * says nothing the newer does not). The file runs on both sides of the one taken out become one run: the order of
 * ids is kept, so one busy session costs a client two messages per batch, not two per ingestion pass.
 */
function addProgress(pending: Pending[], e: LiveEvent): void {
  const session = progressKey(e);
  const older = pending.findIndex((p) => p.kind === 'progress' && p.session === session);
  if (older !== -1) {
    pending.splice(older, 1);
    const before = pending[older - 1];
    const after = pending[older];
    if (before?.kind === 'files' && after?.kind === 'files') {
      before.fragments.push(...after.fragments);
      before.id = after.id;
      pending.splice(older, 1);
    }
  }
  pending.push({ kind: 'progress', session, event: e });
}

function progressKey(e: LiveEvent): unknown {
  const data = e.data as { id?: unknown; daemonPid?: unknown } | null;
  return data?.id ?? data?.daemonPid ?? e.id;
}

export class LiveFanout {
  private readonly groups = new Map<string, Group>();
  private readonly members = new Map<WebSocket, Member>();
  private readonly opts: LiveFanoutOptions;
  /**
   * The frames of events sent since the last tick, so each is built once whichever groups send it. Emptied at every
   * tick (which leaves nothing waiting), so it never holds more than one batch window's events.
   */
  private readonly frames = new Map<LiveEvent, SharedFrame>();
  /** Deflates done for shared frames: one per message however many clients get it. */
  readonly frameStats: FrameStats = { deflates: 0, bytesIn: 0, bytesOut: 0 };
  /** The next send of gathered batches, when one is planned. */
  private flushTimer: { cancel(): void } | null = null;
  /** When gathered batches last went out (performance.now()), and what sending them took (ms). */
  private lastFlushAt = Number.NEGATIVE_INFINITY;
  private lastFlushCost = 0;

  constructor(
    private readonly source: LiveEventSource,
    opts: Partial<LiveFanoutOptions> = {},
  ) {
    this.opts = { ...DEFAULT_FANOUT_OPTIONS, ...opts };
  }

  get size(): number {
    return this.members.size;
  }

  /**
   * A new connection: `hello`, then (when it resumes) what it missed, then the live stream. One synchronous step, so
   * no event can fall between the replay and the stream or come twice.
   */
  add(client: WebSocket, resumeFrom: number | undefined, wire: LiveWire): void {
    const hello: LiveHello = { events: LIVE_EVENT_TYPES, lastEventId: this.source.lastEventId };
    this.sendOne(client, { type: 'hello', at: new Date(this.opts.now()).toISOString(), data: hello });
    const group = this.groupFor({ events: null, modules: null });
    // Files gathered before this client connected are not its own: they go to the others first.
    this.flush(group);
    if (resumeFrom !== undefined) this.replay(client, group, resumeFrom);
    this.join(client, group, wire);
  }

  /** A subscribe message: a new filter, and with `lastEventId` a replay of what that filter wants after it. */
  subscribe(client: WebSocket, filter: LiveFilter, lastEventId?: unknown): void {
    const member = this.members.get(client);
    if (!member) return;
    const next = this.groupFor(filter);
    // A client that is behind has not been sent everything up to now: it changes filter from where it is.
    if (lastEventId === undefined && member.behind) lastEventId = member.lastSentId;
    if (lastEventId === undefined) {
      if (next === member.group) return;
      // Files already gathered under the old filter still reach it (as they would have without the change).
      this.flush(member.group);
      this.leave(client, member);
      this.flush(next);
      this.join(client, next, member.wire);
      return;
    }
    // Whatever is waiting in the batch is in the replay too (if wanted): leave it behind rather than send it twice.
    this.leave(client, member);
    this.flush(next);
    this.replay(client, next, typeof lastEventId === 'number' ? lastEventId : Number.NaN);
    this.join(client, next, member.wire);
  }

  remove(client: WebSocket): void {
    const member = this.members.get(client);
    if (member) this.leave(client, member);
  }

  /** One event from the hub: to every group that wants it, serialized at most once. */
  dispatch(e: LiveEvent): void {
    const module = e.module === null ? null : e.module.toLowerCase();
    if (e.type === 'session.file' || e.type === 'session.progress') {
      let fragment: string | undefined;
      for (const group of this.groups.values()) {
        if (!wants(group, e, module)) continue;
        if (e.type === 'session.file') {
          fragment ??= fileFragment(e.data as unknown[]);
          addFiles(group.pending, fragment, e.id);
        } else {
          addProgress(group.pending, e);
        }
        this.schedule();
      }
      return;
    }
    let frame: SharedFrame | undefined;
    for (const group of this.groups.values()) {
      if (!wants(group, e, module)) continue;
      // Waiting files go out first: ids on the wire only ever increase, so "the last id I saw" is a true resume point.
      this.flush(group);
      frame ??= this.eventFrame(e);
      for (const client of group.members) this.sendFrame(client, frame, e.id);
    }
  }

  /** Every batchMs: whatever is gathered goes out, and every client's backlog is checked. */
  tick(): void {
    this.flushAll();
    // Nothing new to send: still check. The message that pushed a client over the limit may have been the last one;
    // without this check such a client would never be dropped.
    for (const group of this.groups.values()) {
      for (const client of group.members) {
        if (this.stalled(client)) continue;
        const member = this.members.get(client)!;
        if (member.behind && client.bufferedAmount <= this.opts.limits.maxBufferedBytes / 2) this.catchUp(client, member);
      }
    }
  }

  /**
   * A client that was behind took most of its backlog: it gets the events it was not sent (from the replay buffer,
   * as on a reconnect), or a `resync` when they are gone, then the live stream again. The replay goes only as far as
   * the backlog limit allows; the rest follows at later ticks (the client stays behind until it has all of it), so a
   * slow client's catch-up never builds the backlog the limit keeps away. Runs right after flushAll, so nothing of
   * the replay also waits in its group's batch.
   */
  private catchUp(client: WebSocket, member: Member): void {
    const answer = this.source.since(member.lastSentId);
    if (!answer.ok) {
      member.behind = false;
      member.lastSentId = this.source.lastEventId;
      const resync: LiveResync = { reason: answer.reason, lastEventId: this.source.lastEventId };
      this.sendOne(client, { type: 'resync', at: new Date(this.opts.now()).toISOString(), data: resync });
      return;
    }
    const group = member.group;
    for (const e of answer.events) {
      if (!wants(group, e, e.module === null ? null : e.module.toLowerCase())) continue;
      if (client.bufferedAmount > this.opts.limits.maxBufferedBytes) return; // the rest at a later tick
      this.sendOne(client, { type: e.type, id: e.id, at: e.at, data: e.data });
      member.lastSentId = e.id;
    }
    member.behind = false;
    member.lastSentId = this.source.lastEventId;
  }

  /**
   * The batch window, adaptive: when the last batch went out at least a window ago (a quiet stream), what was just
   * gathered goes out as soon as the publisher's synchronous run ends (one ingestion pass publishes its files and
   * progress together: one frame each, not one per call). Under a steady stream, batches go out once per window:
   * minBatchMs, wider when sending to every client got costly, never wider than batchMs.
   */
  get windowMs(): number {
    return Math.min(this.opts.batchMs, Math.max(this.opts.minBatchMs, this.opts.costFactor * this.lastFlushCost));
  }

  private schedule(): void {
    if (this.flushTimer) return;
    const wait = this.lastFlushAt + this.windowMs - performance.now();
    if (wait <= 0) {
      const immediate = setImmediate(() => this.flushAll());
      immediate.unref();
      this.flushTimer = { cancel: () => clearImmediate(immediate) };
    } else {
      const timeout = setTimeout(() => this.flushAll(), wait);
      timeout.unref();
      this.flushTimer = { cancel: () => clearTimeout(timeout) };
    }
  }

  /** Sends every group's gathered batch now. */
  private flushAll(): void {
    this.cancelFlush();
    let sent = false;
    const t0 = performance.now();
    for (const group of this.groups.values()) sent = this.flush(group) || sent;
    this.frames.clear();
    if (!sent) return;
    const t1 = performance.now();
    this.lastFlushAt = t1;
    this.lastFlushCost = t1 - t0;
  }

  private cancelFlush(): void {
    this.flushTimer?.cancel();
    this.flushTimer = null;
  }

  private eventFrame(e: LiveEvent): SharedFrame {
    let frame = this.frames.get(e);
    if (!frame) {
      frame = new SharedFrame(messageFrame({ type: e.type, id: e.id, at: e.at, data: e.data }), this.frameStats);
      this.frames.set(e, frame);
    }
    return frame;
  }

  /** Closes every client (server shutdown). */
  closeAll(code: number, reason: string): void {
    this.cancelFlush();
    for (const client of [...this.members.keys()]) {
      this.remove(client);
      client.close(code, reason);
    }
  }

  private groupFor(filter: LiveFilter): Group {
    const key = filterKey(filter);
    let group = this.groups.get(key);
    if (!group) {
      group = {
        key,
        events: filter.events ? new Set(filter.events) : null,
        modules: filter.modules ? new Set(filter.modules.map((m) => m.toLowerCase())) : null,
        members: new Set(),
        pending: [],
      };
      this.groups.set(key, group);
    }
    return group;
  }

  private join(client: WebSocket, group: Group, wire: LiveWire): void {
    // The group may have been let go when its last member left a moment ago (a resume onto the same filter).
    if (!this.groups.has(group.key)) this.groups.set(group.key, group);
    group.members.add(client);
    // Whatever was published up to now was sent to it (replay, or the group's batch flushed before it joined).
    this.members.set(client, { group, wire, overLimitSince: null, lastSentId: this.source.lastEventId, behind: false });
  }

  private leave(client: WebSocket, member: Member): void {
    this.members.delete(client);
    member.group.members.delete(client);
    if (member.group.members.size === 0) this.groups.delete(member.group.key);
  }

  /** Sends the events after `afterId` that the group's filter wants, or `resync` when they are gone. */
  private replay(client: WebSocket, group: Group, afterId: number): void {
    const answer = this.source.since(afterId);
    if (!answer.ok) {
      const resync: LiveResync = { reason: answer.reason, lastEventId: this.source.lastEventId };
      this.sendOne(client, { type: 'resync', at: new Date(this.opts.now()).toISOString(), data: resync });
      return;
    }
    for (const e of answer.events) {
      if (wants(group, e, e.module === null ? null : e.module.toLowerCase())) this.sendOne(client, { type: e.type, id: e.id, at: e.at, data: e.data });
    }
  }

  /** Sends the group's gathered batch; true if anything went to a client. */
  private flush(group: Group): boolean {
    if (group.pending.length === 0) return false;
    const pending = group.pending;
    group.pending = [];
    if (group.members.size === 0) return false;
    const at = new Date(this.opts.now()).toISOString();
    for (const item of pending) {
      const frame = item.kind === 'files' ? new SharedFrame(fileBatchFrame(item.id, at, item.fragments), this.frameStats) : this.eventFrame(item.event);
      const id = item.kind === 'files' ? item.id : item.event.id;
      for (const client of group.members) this.sendFrame(client, frame, id);
    }
    return true;
  }

  /** A message for one client only (hello, replay, resync, error): sent by ws, uncompressed. */
  sendOne(client: WebSocket, msg: LiveMessage): void {
    if (client.readyState !== WebSocket.OPEN) return;
    if (this.stalled(client)) return;
    // compress: false keeps ws's sender idle, which shared frames written to the socket rely on (shared-frame.ts)
    client.send(messageFrame(msg), { binary: false, compress: false });
  }

  /**
   * A stream frame (`id`: the event it carries) for a member: not queued for a client whose backlog is over the limit
   * (it is marked behind and caught up later, see tick); otherwise written, deflated or plain as the client agreed.
   */
  private sendFrame(client: WebSocket, frame: SharedFrame, id: number): void {
    if (client.readyState !== WebSocket.OPEN) return;
    if (this.stalled(client)) return;
    const member = this.members.get(client);
    if (!member || member.behind || !member.wire.socket.writable) return;
    if (client.bufferedAmount > this.opts.limits.maxBufferedBytes) {
      member.behind = true;
      return;
    }
    member.lastSentId = id;
    frame.writeTo(member.wire);
  }

  /** True (and the client dropped) when it has not taken its data for too long; ingestion and others never wait. */
  private stalled(client: WebSocket): boolean {
    const member = this.members.get(client);
    if (!member) return false;
    const verdict = stallVerdict(client.bufferedAmount, member.overLimitSince, this.opts.now(), this.opts.limits);
    member.overLimitSince = verdict.overLimitSince;
    if (!verdict.drop) return false;
    this.leave(client, member);
    client.terminate();
    this.opts.onDrop(client);
    return true;
  }
}
