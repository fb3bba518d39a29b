import { Component, ElementRef, OnDestroy, OnInit, computed, inject, viewChild } from '@angular/core';
import { BreakpointObserver } from '@angular/cdk/layout';
import { toSignal } from '@angular/core/rxjs-interop';
import { Router, RouterLink, RouterLinkActive, RouterOutlet } from '@angular/router';
import { map } from 'rxjs';
import { MatSidenavModule } from '@angular/material/sidenav';
import { MatToolbarModule } from '@angular/material/toolbar';
import { MatListModule } from '@angular/material/list';
import { MatButtonModule } from '@angular/material/button';
import { MatMenuModule } from '@angular/material/menu';
import { AuthService } from '../core/auth.service';
import { LiveEventsService } from '../core/live-events.service';
import { FORM_FIELD_DEFAULTS } from '../shared/form-field-defaults';

interface NavItem {
  path: string;
  label: string;
  exact?: boolean;
  adminOnly?: boolean;
}

const NAV: NavItem[] = [
  { path: '/', label: 'Dashboard', exact: true },
  { path: '/modules', label: 'Modules' },
  { path: '/users', label: 'Rsync users' },
  { path: '/import', label: 'Import', adminOnly: true },
  { path: '/sources', label: 'Sources' },
  { path: '/daemon', label: 'Daemon' },
  { path: '/tls', label: 'Encryption' },
  { path: '/transfers', label: 'Transfers' },
  { path: '/alerts', label: 'Alerts' },
  { path: '/audit', label: 'Audit log' },
  { path: '/admins', label: 'Admins & tokens', adminOnly: true },
];

/** Logged-in frame: side nav on desktop, a toolbar menu on phones; account menu; the live connection lamp. */
@Component({
  selector: 'rh-shell',
  imports: [RouterOutlet, RouterLink, RouterLinkActive, MatSidenavModule, MatToolbarModule, MatListModule, MatButtonModule, MatMenuModule],
  templateUrl: './shell.component.html',
  styleUrl: './shell.component.css',
  providers: [FORM_FIELD_DEFAULTS],
})
export class ShellComponent implements OnInit, OnDestroy {
  readonly auth = inject(AuthService);
  readonly live = inject(LiveEventsService);
  private readonly router = inject(Router);
  readonly isPhone = toSignal(inject(BreakpointObserver).observe('(max-width: 800px)').pipe(map((r) => r.matches)), { initialValue: false });
  readonly nav = computed(() => NAV.filter((n) => !n.adminOnly || this.auth.canEdit()));
  readonly liveLabel = computed(() => {
    switch (this.live.state()) {
      case 'open':
        return 'Live';
      case 'connecting':
        return 'Connecting…';
      case 'reconnecting':
        return 'Reconnecting…';
      default:
        return 'Offline';
    }
  });

  private readonly main = viewChild.required<ElementRef<HTMLElement>>('main');

  ngOnInit(): void {
    this.live.connect();
  }

  /** The skip link: focus the page content itself (a `#main-content` navigation would go through the router). */
  skipToMain(event: Event): void {
    event.preventDefault();
    this.main().nativeElement.focus();
  }

  ngOnDestroy(): void {
    this.live.disconnect();
  }

  async logout(): Promise<void> {
    this.live.disconnect();
    await this.auth.logout().catch(() => undefined);
    await this.router.navigate(['/login']);
  }
}
