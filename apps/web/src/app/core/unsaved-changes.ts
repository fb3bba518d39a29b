import { DestroyRef, inject } from '@angular/core';
import type { CanDeactivateFn } from '@angular/router';
import { MatDialog } from '@angular/material/dialog';
import { firstValueFrom } from 'rxjs';
import { ConfirmDialogComponent, type ConfirmData, type ConfirmResult } from '../shared/confirm-dialog.component';

/** A page with a form that can hold edits not saved yet. */
export interface HasUnsavedChanges {
  hasUnsavedChanges(): boolean;
}

/** Leaving a page with unsaved edits (a link, the nav, back) asks first; staying keeps the edits. */
export const unsavedChangesGuard: CanDeactivateFn<HasUnsavedChanges> = async (page, _route, _state, next) => {
  if (!page?.hasUnsavedChanges?.()) return true;
  // Logged out, or the session ended (401): the edits could not be saved anyway, and asking would strand the page.
  if (next?.url.startsWith('/login')) return true;
  const dialog = inject(MatDialog);
  const ref = dialog.open<ConfirmDialogComponent, ConfirmData, ConfirmResult>(ConfirmDialogComponent, {
    data: {
      title: 'Leave without saving?',
      message: 'Your changes on this page have not been saved. Leaving discards them.',
      confirmLabel: 'Discard changes and leave',
    },
  });
  return (await firstValueFrom(ref.afterClosed()))?.confirmed === true;
};

/**
 * Reloading or closing the tab with unsaved edits gets the browser's own "Leave site?" question (the text is the
 * browser's: pages may not set it). Call from a constructor; removed when the page goes.
 */
export function warnBeforeUnload(unsaved: () => boolean): void {
  const listener = (event: BeforeUnloadEvent) => {
    if (!unsaved()) return;
    event.preventDefault();
    // Chromium still needs returnValue set to show the prompt.
    event.returnValue = '';
  };
  window.addEventListener('beforeunload', listener);
  inject(DestroyRef).onDestroy(() => window.removeEventListener('beforeunload', listener));
}
