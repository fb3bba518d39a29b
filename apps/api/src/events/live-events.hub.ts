import { Inject, Injectable } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import type { LiveEventType, LiveMessageMap } from '@rsynchub/contracts';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { ReplayAnswer, ReplayBuffer } from './replay-buffer';

export interface LiveEvent<K extends LiveEventType = LiveEventType> {
  /** Strictly increasing over the stream, and across restarts (see `firstId`). */
  id: number;
  type: K;
  at: string;
  data: LiveMessageMap[K];
  /** The module the event concerns, for subscribers that narrowed to some modules. */
  module: string | null;
}

/**
 * Ids of a run start above every id a previous run can have given out (milliseconds since the epoch x 1000, safe
 * integers until the year 2255), so a client's id from before a restart is recognisably older than this run.
 */
function firstId(): number {
  return Date.now() * 1000;
}

/**
 * In-process fan-out of everything the live stream shows. Publishers never wait for subscribers. Every event, of
 * any type and from any module, gets its id here and is kept in a bounded buffer for clients that reconnect.
 */
@Injectable()
export class LiveEventsHub {
  private readonly subject = new Subject<LiveEvent>();
  private readonly buffer: ReplayBuffer<LiveEvent>;
  private lastId: number;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.lastId = firstId() - 1;
    this.buffer = new ReplayBuffer<LiveEvent>(config.liveReplayEvents, this.lastId);
  }

  get events(): Observable<LiveEvent> {
    return this.subject.asObservable();
  }

  /** The newest id given out (or, before any event, the one just below this run's first). */
  get lastEventId(): number {
    return this.lastId;
  }

  publish<K extends LiveEventType>(type: K, data: LiveMessageMap[K], module: string | null = null): void {
    const event = { id: ++this.lastId, type, at: new Date().toISOString(), data, module } as LiveEvent;
    this.buffer.push(event, Array.isArray(data) ? Math.max(1, data.length) : 1);
    this.subject.next(event);
  }

  /** The events after `afterId`, or why they are gone. Synchronous, so nothing is published in between. */
  since(afterId: number): ReplayAnswer<LiveEvent> {
    return this.buffer.after(afterId);
  }
}
