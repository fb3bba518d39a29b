import { TestBed } from '@angular/core/testing';
import { MatDialog } from '@angular/material/dialog';
import type { ActivatedRouteSnapshot, RouterStateSnapshot } from '@angular/router';
import { of } from 'rxjs';
import { unsavedChangesGuard, type HasUnsavedChanges } from './unsaved-changes';

const state = (url: string) => ({ url }) as RouterStateSnapshot;
const run = (page: HasUnsavedChanges, to: string) =>
  TestBed.runInInjectionContext(() => unsavedChangesGuard(page, {} as ActivatedRouteSnapshot, state('/modules/new'), state(to)));

describe('unsavedChangesGuard', () => {
  let answer: boolean;
  let open: ReturnType<typeof vi.fn>;
  beforeEach(() => {
    answer = false;
    open = vi.fn(() => ({ afterClosed: () => of({ confirmed: answer, option: false }) }));
    TestBed.configureTestingModule({ providers: [{ provide: MatDialog, useValue: { open } }] });
  });

  it('lets a clean page go without asking', async () => {
    expect(await run({ hasUnsavedChanges: () => false }, '/modules')).toBe(true);
    expect(open).not.toHaveBeenCalled();
  });

  it.each([
    [false, false],
    [true, true],
  ])('asks for an edited page; answer %s -> leave %s', async (confirmed, leaves) => {
    answer = confirmed;
    expect(await run({ hasUnsavedChanges: () => true }, '/modules')).toBe(leaves);
    expect(open).toHaveBeenCalledTimes(1);
  });

  it('does not ask when the way out is the login page (logged out or session over)', async () => {
    expect(await run({ hasUnsavedChanges: () => true }, '/login?next=%2Fmodules')).toBe(true);
    expect(open).not.toHaveBeenCalled();
  });
});
