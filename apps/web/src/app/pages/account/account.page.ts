import { Component, inject, signal } from '@angular/core';
import { AbstractControl, FormBuilder, ReactiveFormsModule, ValidationErrors, Validators } from '@angular/forms';
import { Router } from '@angular/router';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatButtonModule } from '@angular/material/button';
import { AuthService } from '../../core/auth.service';
import type { ApiError } from '../../core/api-error';
import { ErrorBannerComponent } from '../../shared/error-banner.component';

const matching = (g: AbstractControl): ValidationErrors | null =>
  g.get('newPassword')?.value === g.get('repeat')?.value ? null : { mismatch: true };

@Component({
  selector: 'rh-account-page',
  imports: [ReactiveFormsModule, MatFormFieldModule, MatInputModule, MatButtonModule, ErrorBannerComponent],
  template: `
    <div class="rh-page-header"><h1>Account</h1></div>
    <div class="rh-card" style="max-width: 520px">
      <h2>Change password for {{ auth.admin()?.username }}</h2>
      @if (auth.mustChangePassword()) {
        <p class="rh-warn" data-testid="first-run-prompt">
          Your password was generated or set by another admin. Choose your own now: until then nothing else can be done with this account.
        </p>
      }
      @if (done()) {
        <p class="rh-success" role="status" data-testid="password-changed">Password changed.</p>
      }
      <rh-error-banner [error]="error()" />
      <form [formGroup]="form" (ngSubmit)="submit()" data-testid="password-form">
        <mat-form-field appearance="outline" style="width: 100%">
          <mat-label>Current password</mat-label>
          <input matInput type="password" formControlName="currentPassword" autocomplete="current-password" data-testid="current-password" />
          @if (form.controls.currentPassword.hasError('required')) {<mat-error>Required</mat-error>}
        </mat-form-field>
        <mat-form-field appearance="outline" style="width: 100%">
          <mat-label>New password</mat-label>
          <input matInput type="password" formControlName="newPassword" autocomplete="new-password" data-testid="new-password" />
          <mat-hint>12+ characters, checked for strength.</mat-hint>
          @if (form.controls.newPassword.hasError('required')) {<mat-error>Required</mat-error>}
          @if (form.controls.newPassword.hasError('minlength')) {<mat-error>At least 12 characters</mat-error>}
        </mat-form-field>
        <mat-form-field appearance="outline" style="width: 100%">
          <mat-label>Repeat new password</mat-label>
          <input matInput type="password" formControlName="repeat" autocomplete="new-password" data-testid="repeat-password" />
        </mat-form-field>
        @if (form.hasError('mismatch') && form.controls.repeat.touched) {
          <p class="rh-error" role="alert">The two new passwords differ.</p>
        }
        <button mat-flat-button color="primary" type="submit" [disabled]="busy()" data-testid="password-submit">Change password</button>
      </form>
    </div>
  `,
})
export class AccountPage {
  readonly auth = inject(AuthService);
  private readonly router = inject(Router);
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

  async submit(): Promise<void> {
    this.done.set(false);
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      return;
    }
    this.busy.set(true);
    this.error.set(null);
    try {
      const { currentPassword, newPassword } = this.form.getRawValue();
      const wasRequired = this.auth.mustChangePassword();
      await this.auth.changePassword(currentPassword, newPassword);
      this.form.reset();
      this.done.set(true);
      if (wasRequired) await this.router.navigateByUrl('/');
    } catch (err) {
      this.error.set(err as ApiError);
    } finally {
      this.busy.set(false);
    }
  }
}
