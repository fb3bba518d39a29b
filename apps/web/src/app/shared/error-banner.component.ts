import { Component, input } from '@angular/core';
import type { ApiError } from '../core/api-error';

/** A server or client error in words, with the per-field details the server gave. */
@Component({
  selector: 'rh-error-banner',
  template: `
    @if (error(); as e) {
      <div class="rh-error" role="alert" data-testid="error-banner">
        <strong>{{ e.message }}</strong>
        @if (e.details.length) {
          <ul>
            @for (d of e.details; track $index) {
              <li><code>{{ d.field }}</code>: {{ d.message }}</li>
            }
          </ul>
        }
      </div>
    }
  `,
})
export class ErrorBannerComponent {
  readonly error = input<ApiError | null>(null);
}
