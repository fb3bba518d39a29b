import { MatDialog } from '@angular/material/dialog';
import { firstValueFrom } from 'rxjs';
import type { ModuleDto } from '@rsynchub/contracts';
import { ConfirmDialogComponent, type ConfirmData, type ConfirmResult } from '../../shared/confirm-dialog.component';

/**
 * Asks before deleting a module, saying plainly whether its data stays on disk or goes with it.
 * Resolves to null when cancelled, else whether the data is to be purged.
 */
export async function confirmModuleDelete(dialog: MatDialog, m: Pick<ModuleDto, 'name' | 'path'>): Promise<{ purge: boolean } | null> {
  const data: ConfirmData = {
    title: `Delete module ${m.name}?`,
    message: `The module is removed from rsyncd.conf. The data in ${m.path} is kept on disk.`,
    confirmLabel: 'Delete',
    // Deleting data cannot be undone: the admin types the module's name, so a slip of the mouse cannot do it.
    option: {
      label: 'Also delete the data',
      messageWhenChecked: `The module is removed AND everything in ${m.path} is deleted. This cannot be undone.`,
      typeToConfirm: m.name,
    },
  };
  const res = await firstValueFrom(dialog.open<ConfirmDialogComponent, ConfirmData, ConfirmResult>(ConfirmDialogComponent, { data }).afterClosed());
  return res?.confirmed ? { purge: !!res.option } : null;
}
