import { HttpErrorResponse, HttpInterceptorFn } from '@angular/common/http';
import { inject } from '@angular/core';
import { Router } from '@angular/router';
import { tap } from 'rxjs';
import { AuthService } from './auth.service';

/** A 401 on any call but login/me means the session ended (expired, revoked, password changed): back to login. */
export const unauthorizedInterceptor: HttpInterceptorFn = (req, next) => {
  const auth = inject(AuthService);
  const router = inject(Router);
  return next(req).pipe(
    tap({
      error: (err: unknown) => {
        if (err instanceof HttpErrorResponse && err.status === 401 && !/\/auth\/(login|me)$/.test(req.url.split('?')[0])) {
          auth.clear();
          void router.navigate(['/login'], { queryParams: { next: router.url } });
        }
      },
    }),
  );
};
