import { Component, DestroyRef, OnInit, inject, signal } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { MatButtonModule } from '@angular/material/button';
import type { BanListDto } from '@rsynchub/contracts';
import { ApiService } from '../../core/api.service';
import { AuthService } from '../../core/auth.service';
import { LiveEventsService } from '../../core/live-events.service';
import { formatTime } from '../../core/format';
import type { ApiError } from '../../core/api-error';
import { ErrorBannerComponent } from '../../shared/error-banner.component';

/** Client addresses banned for rsync password guessing: listed live, liftable by admins. */
@Component({
  selector: 'rh-bans-section',
  imports: [MatButtonModule, ErrorBannerComponent],
  template: `
    <section class="rh-card" data-testid="bans">
      <h2>Banned addresses</h2>
      @if (list(); as l) {
        <p class="rh-muted" data-testid="bans-settings">
          @if (l.settings.threshold > 0) {
            An address is refused by every module for {{ l.settings.durationSeconds }} s after {{ l.settings.threshold }} failed rsync
            logins within {{ l.settings.windowSeconds }} s.
          } @else {
            Automatic bans are off (RSYNCHUB_BAN_THRESHOLD=0).
          }
          Never banned: {{ l.settings.neverBan.length ? l.settings.neverBan.join(', ') : 'none' }}.
        </p>
      }
      <rh-error-banner [error]="error()" />
      @if (list()?.items?.length) {
        <table class="rh-table" data-testid="bans-table">
          <thead><tr><th>Address</th><th>Banned</th><th>Until</th><th>Reason</th><th></th></tr></thead>
          <tbody>
            @for (b of list()!.items; track b.address) {
              <tr [attr.data-testid]="'ban-' + b.address">
                <td><code>{{ b.address }}</code></td>
                <td>{{ fmtTime(b.bannedAt) }}</td>
                <td>{{ fmtTime(b.expiresAt) }}</td>
                <td>{{ b.reason }}</td>
                <td>
                  @if (auth.canEdit()) {
                    <button mat-stroked-button type="button" (click)="lift(b.address)" [disabled]="busy()" [attr.data-testid]="'lift-' + b.address">Lift</button>
                  }
                </td>
              </tr>
            }
          </tbody>
        </table>
      } @else if (list()) {
        <p data-testid="bans-empty">No address is banned.</p>
      }
    </section>
  `,
})
export class BansSectionComponent implements OnInit {
  private readonly api = inject(ApiService);
  private readonly live = inject(LiveEventsService);
  private readonly destroyRef = inject(DestroyRef);
  readonly auth = inject(AuthService);
  readonly list = signal<BanListDto | null>(null);
  readonly error = signal<ApiError | null>(null);
  readonly busy = signal(false);
  readonly fmtTime = formatTime;

  ngOnInit(): void {
    void this.load();
    this.live
      .on('ban.changed')
      .pipe(takeUntilDestroyed(this.destroyRef))
      .subscribe(() => void this.load());
  }

  async load(): Promise<void> {
    try {
      this.list.set(await this.api.bans());
      this.error.set(null);
    } catch (err) {
      this.error.set(err as ApiError);
    }
  }

  async lift(address: string): Promise<void> {
    this.busy.set(true);
    try {
      await this.api.liftBan(address);
      await this.load();
    } catch (err) {
      this.error.set(err as ApiError);
    } finally {
      this.busy.set(false);
    }
  }
}
