import { Injectable } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import type { LiveEventType, LiveMessageMap } from '@rsynchub/contracts';

export interface LiveEvent<K extends LiveEventType = LiveEventType> {
  type: K;
  at: string;
  data: LiveMessageMap[K];
  /** The module the event concerns, for subscribers that narrowed to some modules. */
  module: string | null;
}

/** In-process fan-out of everything the live stream shows. Publishers never wait for subscribers. */
@Injectable()
export class LiveEventsHub {
  private readonly subject = new Subject<LiveEvent>();

  get events(): Observable<LiveEvent> {
    return this.subject.asObservable();
  }

  publish<K extends LiveEventType>(type: K, data: LiveMessageMap[K], module: string | null = null): void {
    this.subject.next({ type, at: new Date().toISOString(), data, module } as LiveEvent);
  }
}
