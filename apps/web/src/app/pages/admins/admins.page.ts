import { Component, OnInit, inject, signal } from '@angular/core';
import { FormBuilder, FormGroupDirective, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatButtonModule } from '@angular/material/button';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatDialog } from '@angular/material/dialog';
import { firstValueFrom } from 'rxjs';
import { ADMIN_ROLES, type AdminDto, type AdminRole, type ApiTokenDto, type ApiTokenScope } from '@rsynchub/contracts';
import { ApiService } from '../../core/api.service';
import { AuthService } from '../../core/auth.service';
import type { ApiError } from '../../core/api-error';
import { formatTime } from '../../core/format';
import { refetchOnReconnect } from '../../core/refetch-on-reconnect';
import { ErrorBannerComponent } from '../../shared/error-banner.component';
import { CopyBlockComponent } from '../../shared/copy-block.component';
import { ConfirmDialogComponent, type ConfirmData, type ConfirmResult } from '../../shared/confirm-dialog.component';

@Component({
  selector: 'rh-admins-page',
  imports: [ReactiveFormsModule, MatFormFieldModule, MatInputModule, MatButtonModule, MatProgressBarModule, ErrorBannerComponent, CopyBlockComponent],
  templateUrl: './admins.page.html',
})
export class AdminsPage implements OnInit {
  private readonly api = inject(ApiService);
  private readonly dialog = inject(MatDialog);
  private readonly fb = inject(FormBuilder).nonNullable;
  readonly auth = inject(AuthService);
  readonly roles = ADMIN_ROLES;
  readonly admins = signal<AdminDto[]>([]);
  readonly tokens = signal<ApiTokenDto[]>([]);
  readonly loading = signal(true);
  readonly error = signal<ApiError | null>(null);
  readonly adminError = signal<ApiError | null>(null);
  readonly tokenError = signal<ApiError | null>(null);
  readonly secret = signal<{ name: string; secret: string } | null>(null);
  readonly fmt = formatTime;

  readonly adminForm = this.fb.group({
    username: ['', [Validators.required, Validators.maxLength(64)]],
    password: ['', [Validators.required, Validators.minLength(12)]],
    role: ['auditor' as AdminRole],
  });
  readonly tokenForm = this.fb.group({
    name: ['', [Validators.required, Validators.maxLength(64)]],
    expiresInDays: [''],
    scope: ['admin' as ApiTokenScope],
    sourceName: [''],
  });

  /** Loads again after a live-stream reconnect or resync: the server may have changed (or restarted) meanwhile. */
  private readonly refetch = refetchOnReconnect(() => this.load());

  ngOnInit(): void {
    void this.load();
  }

  async load(): Promise<void> {
    this.loading.set(true);
    try {
      const [admins, tokens] = await Promise.all([this.api.admins(), this.api.tokens()]);
      this.admins.set(admins);
      this.tokens.set(tokens);
      this.error.set(null);
    } catch (err) {
      this.error.set(err as ApiError);
    } finally {
      this.loading.set(false);
    }
  }

  async createAdmin(formDir?: FormGroupDirective): Promise<void> {
    if (this.adminForm.invalid) {
      this.adminForm.markAllAsTouched();
      return;
    }
    this.adminError.set(null);
    try {
      await this.api.createAdmin(this.adminForm.getRawValue());
      if (formDir) formDir.resetForm({ role: 'auditor' });
      else this.adminForm.reset();
      await this.load();
    } catch (err) {
      this.adminError.set(err as ApiError);
    }
  }

  async setRole(a: AdminDto, role: string): Promise<void> {
    if (role === a.role) return;
    this.adminError.set(null);
    try {
      await this.api.updateAdmin(a.id, { role: role as AdminRole });
    } catch (err) {
      this.adminError.set(err as ApiError);
    }
    await this.load();
  }

  async removeAdmin(a: AdminDto): Promise<void> {
    if (!(await this.confirm({ title: `Delete account ${a.username}?`, message: 'Its sessions and API tokens are revoked too.', confirmLabel: 'Delete' }))) return;
    try {
      await this.api.deleteAdmin(a.id);
      await this.load();
    } catch (err) {
      this.adminError.set(err as ApiError);
    }
  }

  async createToken(formDir?: FormGroupDirective): Promise<void> {
    if (this.tokenForm.invalid) {
      this.tokenForm.markAllAsTouched();
      return;
    }
    this.tokenError.set(null);
    const v = this.tokenForm.getRawValue();
    try {
      const days = Number(v.expiresInDays);
      const scope = v.scope ?? 'admin';
      const sourceName = scope === 'source' ? (v.sourceName ?? '').trim() : '';
      const res = await this.api.createToken({
        name: v.name!, scope, ...(sourceName ? { sourceName } : {}), ...(v.expiresInDays && days > 0 ? { expiresInDays: days } : {}),
      });
      this.secret.set({ name: res.token.name, secret: res.secret });
      if (formDir) formDir.resetForm();
      else this.tokenForm.reset();
      await this.load();
    } catch (err) {
      this.tokenError.set(err as ApiError);
    }
  }

  async revoke(t: ApiTokenDto): Promise<void> {
    if (!(await this.confirm({ title: `Revoke token ${t.name}?`, message: 'Anything using it (agents, scripts) gets 401 from now on.', confirmLabel: 'Revoke' }))) return;
    try {
      await this.api.revokeToken(t.id);
      await this.load();
    } catch (err) {
      this.tokenError.set(err as ApiError);
    }
  }

  adminName(id: number): string {
    return this.admins().find((a) => a.id === id)?.username ?? `#${id}`;
  }

  private async confirm(data: ConfirmData): Promise<boolean> {
    const res = await firstValueFrom(this.dialog.open<ConfirmDialogComponent, ConfirmData, ConfirmResult>(ConfirmDialogComponent, { data }).afterClosed());
    return !!res?.confirmed;
  }
}
