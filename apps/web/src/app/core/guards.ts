import { inject } from '@angular/core';
import { CanActivateFn, Router } from '@angular/router';
import { AuthService } from './auth.service';

/** Pages behind login: redirect to /login, remembering where the user wanted to go. */
export const loggedInGuard: CanActivateFn = async (_route, state) => {
  const auth = inject(AuthService);
  const router = inject(Router);
  const me = await auth.ensureLoaded();
  if (me) return true;
  return router.createUrlTree(['/login'], { queryParams: state.url && state.url !== '/' ? { next: state.url } : {} });
};

// inject() only works before the first await (the injection context ends there), so every guard injects up front.

/** Admin-only pages (accounts, import); auditors land on the dashboard. */
export const adminGuard: CanActivateFn = async () => {
  const auth = inject(AuthService);
  const router = inject(Router);
  const me = await auth.ensureLoaded();
  return me?.admin.role === 'admin' ? true : router.createUrlTree(['/']);
};

/**
 * While the account must change its password the server answers 403 to everything else, so every page but the
 * account page sends the user there.
 */
export const passwordChangedGuard: CanActivateFn = async (route) => {
  const auth = inject(AuthService);
  const router = inject(Router);
  await auth.ensureLoaded();
  if (!auth.mustChangePassword() || route.routeConfig?.path === 'account') return true;
  return router.createUrlTree(['/account']);
};

/** The login page is pointless when already logged in. */
export const loggedOutGuard: CanActivateFn = async () => {
  const auth = inject(AuthService);
  const router = inject(Router);
  const me = await auth.ensureLoaded();
  return me ? router.createUrlTree(['/']) : true;
};
