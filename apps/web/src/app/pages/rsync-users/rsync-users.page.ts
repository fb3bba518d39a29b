import { Component, ElementRef, Injector, OnInit, inject, signal } from '@angular/core';
import { FormBuilder, FormGroupDirective, ReactiveFormsModule, Validators } from '@angular/forms';
import { RouterLink } from '@angular/router';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatButtonModule } from '@angular/material/button';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatDialog } from '@angular/material/dialog';
import { firstValueFrom } from 'rxjs';
import type { RsyncUserDto } from '@rsynchub/contracts';
import { ApiService } from '../../core/api.service';
import { AuthService } from '../../core/auth.service';
import type { ApiError } from '../../core/api-error';
import { applyServerErrors, bannerRemainder, focusFirstProblem, type FormErrorOptions } from '../../core/form-errors';
import { warnBeforeUnload, type HasUnsavedChanges } from '../../core/unsaved-changes';
import { formatTime } from '../../core/format';
import { refetchOnReconnect } from '../../core/refetch-on-reconnect';
import { ErrorBannerComponent } from '../../shared/error-banner.component';
import { CopyBlockComponent } from '../../shared/copy-block.component';
import { ConfirmDialogComponent, type ConfirmData, type ConfirmResult } from '../../shared/confirm-dialog.component';

/** Same rule as the server's checkRsyncUserName, as a client-side hint. */
export const RSYNC_USER_PATTERN = /^[a-z_][a-z0-9_.-]{0,31}$/;

/** A password the server generated, shown once: who it is for and why. */
export interface ShownSecret {
  user: string;
  password: string;
  reason: 'created' | 'rotated';
}

@Component({
  selector: 'rh-rsync-users-page',
  imports: [ReactiveFormsModule, RouterLink, MatFormFieldModule, MatInputModule, MatButtonModule, MatProgressBarModule, ErrorBannerComponent, CopyBlockComponent],
  templateUrl: './rsync-users.page.html',
})
export class RsyncUsersPage implements OnInit, HasUnsavedChanges {
  private readonly api = inject(ApiService);
  private readonly host = inject<ElementRef<HTMLElement>>(ElementRef);
  private readonly injector = inject(Injector);
  readonly errorOptions: FormErrorOptions = { labels: { name: 'Name', comment: 'Comment', password: 'Password' } };
  private readonly dialog = inject(MatDialog);
  readonly auth = inject(AuthService);
  readonly users = signal<RsyncUserDto[]>([]);
  readonly loading = signal(true);
  readonly error = signal<ApiError | null>(null);
  readonly formError = signal<ApiError | null>(null);
  readonly saving = signal(false);
  readonly secret = signal<ShownSecret | null>(null);
  /** Set when a delete was refused because modules still grant the user. */
  readonly blockedDelete = signal<{ user: RsyncUserDto; message: string } | null>(null);
  readonly fmt = formatTime;

  readonly form = inject(FormBuilder).nonNullable.group({
    name: ['', [Validators.required, Validators.pattern(RSYNC_USER_PATTERN)]],
    comment: ['', Validators.maxLength(256)],
    password: [''],
  });

  /** Loads again after a live-stream reconnect or resync: the server may have changed (or restarted) meanwhile. */
  private readonly refetch = refetchOnReconnect(() => this.load());

  constructor() {
    warnBeforeUnload(() => this.hasUnsavedChanges());
  }

  ngOnInit(): void {
    void this.load();
  }

  /** Something typed into the New-user form and not created yet. */
  hasUnsavedChanges(): boolean {
    return this.form.dirty && !this.saving();
  }

  async load(): Promise<void> {
    this.loading.set(true);
    try {
      this.users.set(await this.api.rsyncUsers());
      this.error.set(null);
    } catch (err) {
      this.error.set(err as ApiError);
    } finally {
      this.loading.set(false);
    }
  }

  /** `formDir` resets the submitted flag too, so the emptied form does not show 'Required' errors. */
  async create(formDir?: FormGroupDirective): Promise<void> {
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      focusFirstProblem(this.host.nativeElement, this.injector);
      return;
    }
    this.saving.set(true);
    this.formError.set(null);
    const { name, comment, password } = this.form.getRawValue();
    try {
      const res = await this.api.createRsyncUser({ name, comment, ...(password ? { password } : {}) });
      this.secret.set(res.generatedPassword ? { user: res.user.name, password: res.generatedPassword, reason: 'created' } : null);
      if (formDir) formDir.resetForm();
      else this.form.reset();
      await this.load();
    } catch (err) {
      const e = err as ApiError;
      const rest = applyServerErrors(this.form.controls, e, this.errorOptions);
      this.formError.set(bannerRemainder(e, rest));
      focusFirstProblem(this.host.nativeElement.querySelector<HTMLElement>('[data-testid="rsync-user-form"]') ?? this.host.nativeElement, this.injector);
    } finally {
      this.saving.set(false);
    }
  }

  async rotate(u: RsyncUserDto): Promise<void> {
    const ok = await this.confirm({
      title: `Rotate the password of ${u.name}?`,
      message: `A new password is generated and shown once. Sources using the old one (${u.modules.length} module grant(s)) stop working until updated.`,
      confirmLabel: 'Rotate',
    });
    if (!ok.confirmed) return;
    try {
      const res = await this.api.updateRsyncUser(u.name, { generatePassword: true });
      if (res.generatedPassword) this.secret.set({ user: u.name, password: res.generatedPassword, reason: 'rotated' });
      this.error.set(null);
      await this.load();
    } catch (err) {
      this.error.set(err as ApiError);
    }
  }

  /**
   * A user still granted somewhere is said so up front, and the one button removes the grants and the user
   * together; a user without grants is simply deleted.
   */
  async remove(u: RsyncUserDto): Promise<void> {
    this.blockedDelete.set(null);
    const granted = u.modules.length > 0;
    const list = u.modules.map((m) => `${m.module} (${m.access})`).join(', ');
    const ok = await this.confirm(
      granted
        ? {
            title: `Delete rsync user ${u.name} and its grants?`,
            message: `${u.name} is still granted on ${u.modules.length === 1 ? 'module' : 'modules'} ${list}. Deleting removes ${u.modules.length === 1 ? 'that grant' : 'those grants'} too: clients logging in there as ${u.name} stop working.`,
            confirmLabel: 'Remove grants and delete',
          }
        : { title: `Delete rsync user ${u.name}?`, message: `${u.name} can no longer log in to any module.`, confirmLabel: 'Delete' },
    );
    if (!ok.confirmed) return;
    await this.doDelete(u, granted);
  }

  async removeWithGrants(): Promise<void> {
    const b = this.blockedDelete();
    if (b) await this.doDelete(b.user, true);
  }

  private async doDelete(u: RsyncUserDto, removeGrants: boolean): Promise<void> {
    try {
      await this.api.deleteRsyncUser(u.name, removeGrants);
      this.blockedDelete.set(null);
      this.error.set(null);
      if (this.secret()?.user === u.name) this.secret.set(null);
      await this.load();
    } catch (err) {
      const e = err as ApiError;
      // A grant made after this page loaded: say so in words, and offer the same one-step delete.
      if (e.status === 409 && !removeGrants) {
        this.blockedDelete.set({ user: u, message: `${u.name} was granted on a module meanwhile, so it was not deleted.` });
        void this.load();
      } else this.error.set(e);
    }
  }

  private async confirm(data: ConfirmData): Promise<ConfirmResult> {
    const res = await firstValueFrom(this.dialog.open<ConfirmDialogComponent, ConfirmData, ConfirmResult>(ConfirmDialogComponent, { data }).afterClosed());
    return res ?? { confirmed: false, option: false };
  }

  err(field: 'name' | 'comment' | 'password'): string | null {
    const c = this.form.controls[field];
    if (!c.errors || !c.touched) return null;
    if (c.errors['required']) return 'Required.';
    if (c.errors['pattern']) return 'Use 1-32 lower-case letters, digits, "_", "." or "-", starting with a letter or "_".';
    if (c.errors['maxlength']) return 'Too long.';
    if (c.errors['server']) return String(c.errors['server']);
    return null;
  }
}
