import { inject } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import type { Subscription } from 'rxjs';
import { LiveEventsService } from './live-events.service';

/**
 * Calls `reload` whenever what the page loaded may be stale: after the live stream reconnects (the server was away,
 * or was restarted) and when the server answers `resync` (events were missed). Call it in an injection context
 * (a field initializer or the constructor); it stops when the page is destroyed. A page that showed an error while
 * the server was away clears it by reloading, without a browser reload.
 */
export function refetchOnReconnect(reload: () => unknown): Subscription {
  return inject(LiveEventsService)
    .refetch$.pipe(takeUntilDestroyed())
    .subscribe(() => void reload());
}
