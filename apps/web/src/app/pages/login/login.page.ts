import { Component, inject, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { ActivatedRoute, Router } from '@angular/router';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatButtonModule } from '@angular/material/button';
import { AuthService } from '../../core/auth.service';
import type { ApiError } from '../../core/api-error';
import { FORM_FIELD_DEFAULTS } from '../../shared/form-field-defaults';

@Component({
  selector: 'rh-login-page',
  imports: [ReactiveFormsModule, MatFormFieldModule, MatInputModule, MatButtonModule],
  providers: [FORM_FIELD_DEFAULTS],
  template: `
    <main class="login-wrap">
      <form class="rh-card login" [formGroup]="form" (ngSubmit)="submit()" data-testid="login-form">
        <h1>RsyncHub</h1>
        <p class="rh-muted">Sign in to manage the rsync target server.</p>
        @if (error(); as e) {
          <div class="rh-error" role="alert" data-testid="login-error">{{ e }}</div>
        }
        <mat-form-field appearance="outline">
          <mat-label>Username</mat-label>
          <input matInput formControlName="username" autocomplete="username" required data-testid="login-username" />
          @if (form.controls.username.hasError('required')) {<mat-error>Enter your username</mat-error>}
        </mat-form-field>
        <mat-form-field appearance="outline">
          <mat-label>Password</mat-label>
          <input matInput type="password" formControlName="password" autocomplete="current-password" required data-testid="login-password" />
          @if (form.controls.password.hasError('required')) {<mat-error>Enter your password</mat-error>}
        </mat-form-field>
        <button mat-flat-button color="primary" type="submit" [disabled]="busy()" data-testid="login-submit">
          {{ busy() ? 'Signing in…' : 'Sign in' }}
        </button>
      </form>
    </main>
  `,
  styles: `
    .login-wrap { min-height: 100vh; display: grid; place-items: center; padding: 16px; }
    .login { width: min(380px, 100%); display: flex; flex-direction: column; gap: 4px; }
    h1 { margin: 0; font-weight: 500; }
  `,
})
export class LoginPage {
  private readonly auth = inject(AuthService);
  private readonly router = inject(Router);
  private readonly route = inject(ActivatedRoute);
  readonly form = inject(FormBuilder).nonNullable.group({
    username: ['', Validators.required],
    password: ['', Validators.required],
  });
  readonly busy = signal(false);
  readonly error = signal<string | null>(null);

  async submit(): Promise<void> {
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      return;
    }
    this.busy.set(true);
    this.error.set(null);
    try {
      const { username, password } = this.form.getRawValue();
      const me = await this.auth.login(username, password);
      const next = this.route.snapshot.queryParamMap.get('next');
      await this.router.navigateByUrl(me.mustChangePassword ? '/account' : next && next.startsWith('/') && !next.startsWith('/login') ? next : '/');
    } catch (err) {
      this.error.set(loginErrorText(err as ApiError));
      this.form.controls.password.reset();
    } finally {
      this.busy.set(false);
    }
  }
}

/** Login failures in words; the throttling message comes from the server (it says how long to wait). */
export function loginErrorText(e: ApiError): string {
  if (e.status === 401) return 'Wrong username or password.';
  if (e.status === 429) return e.message && !/^too many requests$/i.test(e.message) ? e.message : 'Too many failed attempts. Wait a while before trying again.';
  return e.message;
}
