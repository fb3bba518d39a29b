import { Component, ElementRef, Injector, inject, signal } from '@angular/core';
import { AbstractControl, FormBuilder, FormGroupDirective, ReactiveFormsModule, ValidationErrors, Validators } from '@angular/forms';
import { Router } from '@angular/router';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatButtonModule } from '@angular/material/button';
import { AuthService } from '../../core/auth.service';
import type { ApiError } from '../../core/api-error';
import { applyServerErrors, bannerRemainder, focusFirstProblem, type FormErrorOptions } from '../../core/form-errors';
import { warnBeforeUnload, type HasUnsavedChanges } from '../../core/unsaved-changes';
import { ErrorBannerComponent } from '../../shared/error-banner.component';

/** On the Repeat field itself, so its message sits under it (and the field turns red), not in a loose paragraph. */
const matching = (g: AbstractControl): ValidationErrors | null => {
  const repeat = g.get('repeat');
  const differs = g.get('newPassword')?.value !== repeat?.value;
  if (repeat) {
    const { mismatch: _old, ...others } = repeat.errors ?? {};
    const next = differs && repeat.value ? { ...others, mismatch: true } : others;
    repeat.setErrors(Object.keys(next).length ? next : null, { emitEvent: false });
  }
  return differs ? { mismatch: true } : null;
};

@Component({
  selector: 'rh-account-page',
  imports: [ReactiveFormsModule, MatFormFieldModule, MatInputModule, MatButtonModule, ErrorBannerComponent],
  template: `
    <div class="rh-page-header"><h1>Account</h1></div>
    <div class="rh-card" style="max-width: 520px">
      <h2>Change password for {{ auth.admin()?.username }}</h2>
      @if (auth.mustChangePassword()) {
        <p class="rh-warn" data-testid="first-run-prompt">
          You signed in with a <strong>temporary password</strong> (generated at first start, or set by another admin).
          Choose your own now: until then nothing else can be done with this account.
        </p>
      }
      @if (done()) {
        <p class="rh-success" role="status" data-testid="password-changed">Password changed.</p>
      }
      <rh-error-banner [error]="error()" [labels]="errorOptions" />
      <form [formGroup]="form" #f="ngForm" (ngSubmit)="submit(f)" class="password-form" data-testid="password-form" novalidate>
        <mat-form-field appearance="outline" subscriptSizing="dynamic">
          <mat-label>{{ auth.mustChangePassword() ? 'Temporary password' : 'Current password' }}</mat-label>
          <input matInput type="password" formControlName="currentPassword" autocomplete="current-password" data-testid="current-password" />
          @if (auth.mustChangePassword()) {<mat-hint>The one you just signed in with.</mat-hint>}
          @if (form.controls.currentPassword.hasError('required')) {<mat-error>Required.</mat-error>}
          @if (form.controls.currentPassword.getError('server'); as m) {<mat-error data-testid="current-password-error">{{ m }}</mat-error>}
        </mat-form-field>
        <mat-form-field appearance="outline" subscriptSizing="dynamic">
          <mat-label>New password</mat-label>
          <input matInput type="password" formControlName="newPassword" autocomplete="new-password" data-testid="new-password" />
          <mat-hint data-testid="new-password-hint">12+ characters, checked for strength: a few unrelated words work well.</mat-hint>
          @if (form.controls.newPassword.hasError('required')) {<mat-error>Required.</mat-error>}
          @if (form.controls.newPassword.hasError('minlength')) {<mat-error>At least 12 characters.</mat-error>}
          @if (form.controls.newPassword.getError('server'); as m) {<mat-error data-testid="new-password-error">{{ m }}</mat-error>}
        </mat-form-field>
        <mat-form-field appearance="outline" subscriptSizing="dynamic">
          <mat-label>Repeat new password</mat-label>
          <input matInput type="password" formControlName="repeat" autocomplete="new-password" data-testid="repeat-password" />
          @if (form.controls.repeat.hasError('mismatch')) {<mat-error data-testid="repeat-password-error">The two new passwords differ.</mat-error>}
        </mat-form-field>
        <button mat-flat-button color="primary" type="submit" [disabled]="busy()" data-testid="password-submit">Change password</button>
      </form>
    </div>
  `,
  styles: `.password-form { display: flex; flex-direction: column; gap: 12px; } .password-form button { align-self: flex-start; }`,
})
export class AccountPage implements HasUnsavedChanges {
  readonly auth = inject(AuthService);
  private readonly router = inject(Router);
  private readonly host = inject<ElementRef<HTMLElement>>(ElementRef);
  private readonly injector = inject(Injector);
  readonly errorOptions: FormErrorOptions = { labels: { currentPassword: 'Current password', newPassword: 'New password' } };
  readonly form = inject(FormBuilder).nonNullable.group(
    {
      currentPassword: ['', Validators.required],
      newPassword: ['', [Validators.required, Validators.minLength(12)]],
      repeat: [''],
    },
    { validators: matching },
  );
  readonly busy = signal(false);
  readonly error = signal<ApiError | null>(null);
  readonly done = signal(false);

  constructor() {
    warnBeforeUnload(() => this.hasUnsavedChanges());
  }

  hasUnsavedChanges(): boolean {
    return this.form.dirty && !this.busy();
  }

  /** `formDir` resets the submitted state too: the emptied fields after a success must not turn red. */
  async submit(formDir?: FormGroupDirective): Promise<void> {
    this.done.set(false);
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      focusFirstProblem(this.host.nativeElement, this.injector);
      return;
    }
    this.busy.set(true);
    this.error.set(null);
    try {
      const { currentPassword, newPassword } = this.form.getRawValue();
      const wasRequired = this.auth.mustChangePassword();
      await this.auth.changePassword(currentPassword, newPassword);
      if (formDir) formDir.resetForm();
      else this.form.reset();
      this.done.set(true);
      if (wasRequired) await this.router.navigateByUrl('/');
    } catch (err) {
      const e = err as ApiError;
      const rest = applyServerErrors(this.form.controls, e, this.errorOptions);
      this.error.set(bannerRemainder(e, rest));
      focusFirstProblem(this.host.nativeElement, this.injector);
    } finally {
      this.busy.set(false);
    }
  }
}
