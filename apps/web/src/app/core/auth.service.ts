import { Injectable, computed, inject, signal } from '@angular/core';
import type { AdminDto, MeResponse } from '@rsynchub/contracts';
import { ApiService } from './api.service';
import type { ApiError } from './api-error';

/** Who is logged in. `me()` is null when logged out; `loaded()` turns true after the first check. */
@Injectable({ providedIn: 'root' })
export class AuthService {
  private readonly api = inject(ApiService);
  private readonly state = signal<MeResponse | null>(null);
  private pending: Promise<MeResponse | null> | null = null;

  readonly me = this.state.asReadonly();
  readonly loaded = signal(false);
  readonly admin = computed<AdminDto | null>(() => this.state()?.admin ?? null);
  readonly isAuditor = computed(() => this.state()?.admin.role === 'auditor');
  readonly canEdit = computed(() => this.state()?.admin.role === 'admin');
  readonly mustChangePassword = computed(() => this.state()?.mustChangePassword === true);

  /** Loads the session once (cached); resolves null when not logged in. */
  ensureLoaded(): Promise<MeResponse | null> {
    if (this.loaded()) return Promise.resolve(this.state());
    this.pending ??= this.api
      .me()
      .then((me) => {
        this.state.set(me);
        return me;
      })
      .catch((err: ApiError) => {
        if (err.status !== 401) console.warn('auth/me failed:', err.message);
        this.state.set(null);
        return null;
      })
      .finally(() => {
        this.loaded.set(true);
        this.pending = null;
      });
    return this.pending;
  }

  async login(username: string, password: string): Promise<MeResponse> {
    const res = await this.api.login(username, password);
    const me: MeResponse = { admin: res.admin, via: 'session', mustChangePassword: res.mustChangePassword };
    this.state.set(me);
    this.loaded.set(true);
    return me;
  }

  async logout(): Promise<void> {
    try {
      await this.api.logout();
    } finally {
      this.clear();
    }
  }

  async changePassword(currentPassword: string, newPassword: string): Promise<void> {
    await this.api.changePassword({ currentPassword, newPassword });
    const me = this.state();
    if (me) this.state.set({ ...me, mustChangePassword: false });
  }

  /** The server said this account must change its password first (403 password_change_required). */
  requirePasswordChange(): void {
    const me = this.state();
    if (me && !me.mustChangePassword) this.state.set({ ...me, mustChangePassword: true });
  }

  /** Forget the session locally (after a 401). */
  clear(): void {
    this.state.set(null);
    this.loaded.set(true);
  }
}
