import { Component, inject, input, signal } from '@angular/core';
import { Clipboard } from '@angular/cdk/clipboard';
import { MatButtonModule } from '@angular/material/button';

/** A read-only snippet with a copy button (commands, config files, one-time secrets). */
@Component({
  selector: 'rh-copy-block',
  imports: [MatButtonModule],
  template: `
    <div class="rh-copy">
      @if (label()) {
        <div class="rh-copy-label">{{ label() }}</div>
      }
      <div class="rh-copy-row">
        <pre [attr.data-testid]="testid()" tabindex="0">{{ text() }}</pre>
        <button mat-stroked-button type="button" (click)="copy()" [attr.data-testid]="testid() + '-copy'" [attr.aria-label]="'Copy ' + (label() || 'text')">
          {{ copied() ? 'Copied' : 'Copy' }}
        </button>
      </div>
    </div>
  `,
})
export class CopyBlockComponent {
  private readonly clipboard = inject(Clipboard);
  readonly text = input.required<string>();
  readonly label = input<string>('');
  readonly testid = input<string>('copy-block');
  readonly copied = signal(false);

  copy(): void {
    this.copied.set(this.clipboard.copy(this.text()));
    setTimeout(() => this.copied.set(false), 2000);
  }
}
