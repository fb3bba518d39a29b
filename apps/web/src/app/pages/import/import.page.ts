import { Component, ElementRef, Injector, afterNextRender, inject, signal, viewChild } from '@angular/core';
import { FormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { RouterLink } from '@angular/router';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatButtonModule } from '@angular/material/button';
import { MatCheckboxModule } from '@angular/material/checkbox';
import type { ImportRequest, ImportResponse } from '@rsynchub/contracts';
import { ApiService } from '../../core/api.service';
import { AuthService } from '../../core/auth.service';
import type { ApiError } from '../../core/api-error';
import { formatBytes } from '../../core/format';
import { ErrorBannerComponent } from '../../shared/error-banner.component';
import { SKIP_KIND_LABELS, importSummary, importSummaryClass } from './import-result';

/** Same limit as the server's ImportBody. */
export const MAX_IMPORT_TEXT = 1_000_000;

type TextField = 'config' | 'secrets';

/**
 * Takes over an existing rsync daemon: paste (or pick) its rsyncd.conf and secrets file, and the server creates what it
 * can map and lists what it could not. Secrets go to the server only; the page forgets them after a successful import.
 */
@Component({
  selector: 'rh-import-page',
  imports: [ReactiveFormsModule, RouterLink, MatFormFieldModule, MatInputModule, MatButtonModule, MatCheckboxModule, ErrorBannerComponent],
  templateUrl: './import.page.html',
  styleUrl: './import.page.css',
})
export class ImportPage {
  private readonly api = inject(ApiService);
  private readonly injector = inject(Injector);
  private readonly resultCard = viewChild<ElementRef<HTMLElement>>('resultCard');
  readonly auth = inject(AuthService);
  readonly saving = signal(false);
  readonly error = signal<ApiError | null>(null);
  readonly result = signal<ImportResponse | null>(null);
  /** "rsyncd.conf (1.2 KiB)" for each textarea filled from a file. */
  readonly loadedFiles = signal<Partial<Record<TextField, string>>>({});
  readonly kindLabel = SKIP_KIND_LABELS;
  readonly summary = importSummary;
  readonly summaryClass = importSummaryClass;

  readonly form = inject(FormBuilder).nonNullable.group({
    config: ['', [Validators.required, Validators.maxLength(MAX_IMPORT_TEXT)]],
    secrets: ['', Validators.maxLength(MAX_IMPORT_TEXT)],
    skipExisting: [false],
  });

  /** Fills a textarea from a picked file (read in the browser; nothing is uploaded until "Import"). */
  async loadFile(field: TextField, event: Event): Promise<void> {
    const input = event.target as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    try {
      const text = await file.text();
      this.form.controls[field].setValue(text);
      this.form.controls[field].markAsTouched();
      this.loadedFiles.update((f) => ({ ...f, [field]: `${file.name} (${formatBytes(file.size)})` }));
    } catch (err) {
      this.error.set({ status: -1, kind: 'client', message: `Could not read ${file.name}: ${err instanceof Error ? err.message : String(err)}`, details: [] });
    } finally {
      // Picking the same file again (after editing the text) must fire "change" again.
      input.value = '';
    }
  }

  /** The request the form describes; an empty secrets box is left out (not "a secrets file with no entries"). */
  body(): ImportRequest {
    const v = this.form.getRawValue();
    return { config: v.config, ...(v.secrets.trim() ? { secrets: v.secrets } : {}), skipExisting: v.skipExisting };
  }

  async submit(): Promise<void> {
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      return;
    }
    this.saving.set(true);
    this.error.set(null);
    this.result.set(null);
    try {
      this.result.set(await this.api.importConfig(this.body()));
      // The result renders above the (long) form: bring it into view.
      afterNextRender(() => this.resultCard()?.nativeElement.scrollIntoView?.({ block: 'start', behavior: 'smooth' }), { injector: this.injector });
      // The server has the secrets now; do not keep them on screen.
      this.form.controls.secrets.reset('');
      this.loadedFiles.update(({ secrets: _s, ...rest }) => rest);
    } catch (err) {
      this.error.set(err as ApiError);
    } finally {
      this.saving.set(false);
    }
  }

  err(field: TextField): string | null {
    const c = this.form.controls[field];
    if (!c.errors || !c.touched) return null;
    if (c.errors['required']) return 'Paste the rsyncd.conf or choose the file.';
    if (c.errors['maxlength']) return 'Too long: at most 1,000,000 characters.';
    return null;
  }
}
