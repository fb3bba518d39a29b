import { Component, computed, inject, input, signal } from '@angular/core';
import { BreakpointObserver } from '@angular/cdk/layout';
import { toSignal } from '@angular/core/rxjs-interop';
import { map } from 'rxjs';
import { MatButtonModule } from '@angular/material/button';

let nextId = 0;

/**
 * A list's filter form: shown on a desktop, folded behind a "Filters" button on a phone (the list is what a phone
 * screen is for). The button says how many filters are set, so a filtered list is never mistaken for the whole one.
 */
@Component({
  selector: 'rh-filter-panel',
  imports: [MatButtonModule],
  template: `
    @if (isPhone()) {
      <button mat-stroked-button type="button" class="toggle" (click)="open.set(!open())" [attr.aria-expanded]="open()" [attr.aria-controls]="panelId"
              data-testid="filters-toggle">
        {{ open() ? 'Hide filters' : 'Filters' }}@if (active()) { ({{ active() }} set)}
      </button>
    }
    <div [id]="panelId" [hidden]="folded()" data-testid="filters-panel"><ng-content /></div>
  `,
  styles: `
    :host { display: block; }
    .toggle { margin-bottom: 12px; }
  `,
})
export class FilterPanelComponent {
  /** How many filters are set. */
  readonly active = input(0);
  readonly isPhone = toSignal(inject(BreakpointObserver).observe('(max-width: 800px)').pipe(map((r) => r.matches)), { initialValue: false });
  readonly open = signal(false);
  readonly folded = computed(() => this.isPhone() && !this.open());
  readonly panelId = `rh-filters-${nextId++}`;
}
