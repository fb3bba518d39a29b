import { Component, inject, signal } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { MAT_DIALOG_DATA, MatDialogModule } from '@angular/material/dialog';
import { MatButtonModule } from '@angular/material/button';
import { MatCheckboxModule } from '@angular/material/checkbox';

export interface ConfirmData {
  title: string;
  /** Shown while the option is off (or always, without an option). */
  message: string;
  confirmLabel?: string;
  /** An extra checkbox, e.g. "also delete the data"; its state changes the message. */
  option?: { label: string; messageWhenChecked: string };
}

export interface ConfirmResult {
  confirmed: boolean;
  option: boolean;
}

@Component({
  selector: 'rh-confirm-dialog',
  imports: [MatDialogModule, MatButtonModule, MatCheckboxModule, FormsModule],
  template: `
    <h2 mat-dialog-title>{{ data.title }}</h2>
    <mat-dialog-content>
      <p data-testid="confirm-message">{{ option() && data.option ? data.option.messageWhenChecked : data.message }}</p>
      @if (data.option) {
        <mat-checkbox [ngModel]="option()" (ngModelChange)="option.set($event)" data-testid="confirm-option">{{ data.option.label }}</mat-checkbox>
      }
    </mat-dialog-content>
    <mat-dialog-actions align="end">
      <button mat-button [mat-dialog-close]="{ confirmed: false, option: option() }" data-testid="confirm-cancel">Cancel</button>
      <button mat-flat-button color="warn" [mat-dialog-close]="{ confirmed: true, option: option() }" data-testid="confirm-ok">
        {{ data.confirmLabel ?? 'Confirm' }}
      </button>
    </mat-dialog-actions>
  `,
})
export class ConfirmDialogComponent {
  readonly data = inject<ConfirmData>(MAT_DIALOG_DATA);
  readonly option = signal(false);
}
