import { Component, inject, signal } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { NavigationCancel, NavigationCancellationCode, NavigationEnd, NavigationError, Router, RouterOutlet } from '@angular/router';
import { filter, take } from 'rxjs';

/**
 * The root: the routed page, and until the first navigation settles (the guards wait for `/auth/me`) a loading
 * notice instead of a blank page.
 */
@Component({
  selector: 'app-root',
  imports: [RouterOutlet],
  template: `
    @if (booting()) {
      <div class="rh-boot" role="status" data-testid="app-loading"><span class="rh-boot-mark" aria-hidden="true"></span>Loading RsyncHub…</div>
    }
    <router-outlet />
  `,
})
export class AppComponent {
  readonly booting = signal(true);

  constructor() {
    inject(Router)
      .events.pipe(
        // A guard's redirect (to /login) cancels the first navigation only to start the next one: keep waiting.
        filter((e) => e instanceof NavigationEnd || e instanceof NavigationError || (e instanceof NavigationCancel && e.code !== NavigationCancellationCode.Redirect)),
        take(1),
        takeUntilDestroyed(),
      )
      .subscribe(() => this.booting.set(false));
  }
}
