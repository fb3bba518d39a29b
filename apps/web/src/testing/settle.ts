import type { ComponentFixture } from '@angular/core/testing';

/**
 * Lets promise chains started by a flushed HTTP response run to the end, then renders. `whenStable()` alone can
 * resolve between a flushed response and the `await` continuation that sets the component's signals.
 */
export async function settle(fixture: ComponentFixture<unknown>, rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    await fixture.whenStable();
  }
}
