import { Component, computed, input } from '@angular/core';
import type { ApiError } from '../core/api-error';
import { describeFieldError, type FormErrorOptions } from '../core/form-errors';

/**
 * A server or client error in words. With per-field details it shows each detail once, spelled with the form's
 * labels ("Hosts allow, line 3: …"), and not the summary above them, which only repeats them in API wording.
 * Forms put details on their fields first (applyServerErrors) and pass only the rest here.
 */
@Component({
  selector: 'rh-error-banner',
  template: `
    @if (error(); as e) {
      <div class="rh-error" role="alert" data-testid="error-banner" tabindex="-1">
        @if (lines().length === 0) {
          <strong>{{ e.message }}</strong>
        } @else if (lines().length === 1) {
          <strong>{{ lines()[0] }}</strong>
        } @else {
          <ul>
            @for (l of lines(); track $index) {
              <li>{{ l }}</li>
            }
          </ul>
        }
      </div>
    }
  `,
})
export class ErrorBannerComponent {
  readonly error = input<ApiError | null>(null);
  /** The form's labels for the fields the details name. */
  readonly labels = input<FormErrorOptions>({});
  readonly lines = computed(() => (this.error()?.details ?? []).map((d) => describeFieldError(d, this.labels())));
}
