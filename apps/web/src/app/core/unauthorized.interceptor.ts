import { HttpErrorResponse, HttpInterceptorFn } from '@angular/common/http';
import { inject } from '@angular/core';
import { Router } from '@angular/router';
import { tap } from 'rxjs';
import { AuthService } from './auth.service';

/**
 * A 401 on any call but login/me means the session ended (expired, revoked, password changed): back to login.
 * A 403 `password_change_required` means the server refuses everything until the password is changed: to /account.
 */
function passwordChangeRequired(body: unknown): boolean {
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return false;
    }
  }
  return typeof body === 'object' && body !== null && (body as { error?: unknown }).error === 'password_change_required';
}

export const unauthorizedInterceptor: HttpInterceptorFn = (req, next) => {
  const auth = inject(AuthService);
  const router = inject(Router);
  return next(req).pipe(
    tap({
      error: (err: unknown) => {
        if (err instanceof HttpErrorResponse && err.status === 401 && !/\/auth\/(login|me)$/.test(req.url.split('?')[0])) {
          auth.clear();
          void router.navigate(['/login'], { queryParams: { next: router.url } });
        } else if (err instanceof HttpErrorResponse && err.status === 403 && passwordChangeRequired(err.error)) {
          auth.requirePasswordChange();
          if (!router.url.startsWith('/account')) void router.navigate(['/account']);
        }
      },
    }),
  );
};
