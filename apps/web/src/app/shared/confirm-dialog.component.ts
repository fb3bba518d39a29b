import { Component, computed, inject, signal } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { MAT_DIALOG_DATA, MatDialogModule } from '@angular/material/dialog';
import { MatButtonModule } from '@angular/material/button';
import { MatCheckboxModule } from '@angular/material/checkbox';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';

export interface ConfirmData {
  title: string;
  /** Shown while the option is off (or always, without an option). */
  message: string;
  confirmLabel?: string;
  /** An extra checkbox, e.g. "also delete the data"; its state changes the message. */
  option?: { label: string; messageWhenChecked: string; typeToConfirm?: string };
  /** When set, the confirm button stays disabled until exactly this text is typed (always). */
  typeToConfirm?: string;
}

export interface ConfirmResult {
  confirmed: boolean;
  option: boolean;
}

@Component({
  selector: 'rh-confirm-dialog',
  imports: [MatDialogModule, MatButtonModule, MatCheckboxModule, MatFormFieldModule, MatInputModule, FormsModule],
  template: `
    <h2 mat-dialog-title>{{ data.title }}</h2>
    <mat-dialog-content>
      <p data-testid="confirm-message">{{ option() && data.option ? data.option.messageWhenChecked : data.message }}</p>
      @if (data.option) {
        <mat-checkbox [ngModel]="option()" (ngModelChange)="option.set($event)" data-testid="confirm-option">{{ data.option.label }}</mat-checkbox>
      }
      @if (mustType(); as word) {
        <p>Type <strong>{{ word }}</strong> to confirm:</p>
        <mat-form-field appearance="outline" subscriptSizing="dynamic" style="width: 100%">
          <mat-label>{{ word }}</mat-label>
          <input matInput [ngModel]="typed()" (ngModelChange)="typed.set($event)" autocomplete="off" spellcheck="false" data-testid="confirm-type" />
        </mat-form-field>
      }
    </mat-dialog-content>
    <mat-dialog-actions align="end">
      <button mat-button [mat-dialog-close]="{ confirmed: false, option: option() }" data-testid="confirm-cancel">Cancel</button>
      <button mat-flat-button color="warn" [mat-dialog-close]="{ confirmed: true, option: option() }" [disabled]="!typedOk()" data-testid="confirm-ok">
        {{ data.confirmLabel ?? 'Confirm' }}
      </button>
    </mat-dialog-actions>
  `,
})
export class ConfirmDialogComponent {
  readonly data = inject<ConfirmData>(MAT_DIALOG_DATA);
  readonly option = signal(false);
  readonly typed = signal('');
  /** The text the admin must type now: always `typeToConfirm`, or the option's while the option is checked. */
  readonly mustType = computed(() => this.data.typeToConfirm ?? (this.option() ? this.data.option?.typeToConfirm : undefined) ?? null);
  readonly typedOk = computed(() => {
    const word = this.mustType();
    return word === null || this.typed() === word;
  });
}
