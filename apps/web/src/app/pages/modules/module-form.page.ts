import { Component, OnInit, computed, inject, input, signal } from '@angular/core';
import { AbstractControl, FormArray, FormBuilder, FormControl, FormGroup, ReactiveFormsModule, ValidationErrors, Validators } from '@angular/forms';
import { Router, RouterLink } from '@angular/router';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatButtonModule } from '@angular/material/button';
import { MatCheckboxModule } from '@angular/material/checkbox';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import type { CreateModuleRequest, ModuleAccess, ModuleAnonymousAccess, ModuleDto, RsyncUserDto, UpdateModuleRequest } from '@rsynchub/contracts';
import { ApiService } from '../../core/api.service';
import { AuthService } from '../../core/auth.service';
import { fieldMessages, type ApiError } from '../../core/api-error';
import { splitList } from '../../core/format';
import { ErrorBannerComponent } from '../../shared/error-banner.component';
import { storageRootsHint, suggestModulePath } from './path-suggestion';

/** Same rule as the server's checkModuleName (libs/rsyncd/src/validate.ts), as a quick client-side hint. */
export const MODULE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function moduleNameValidator(c: AbstractControl): ValidationErrors | null {
  const v = String(c.value ?? '');
  if (!v) return null;
  if (!MODULE_NAME_PATTERN.test(v)) return { pattern: 'Use 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit.' };
  if (v.toLowerCase() === 'global') return { pattern: "'global' is reserved by rsyncd.conf." };
  return null;
}

export function modulePathValidator(c: AbstractControl): ValidationErrors | null {
  const v = String(c.value ?? '');
  if (!v) return null;
  if (!v.startsWith('/')) return { path: 'Must be an absolute path (start with /).' };
  if (v.split('/').includes('..')) return { path: "Must not contain a '..' segment." };
  if (v.length > 1 && v.endsWith('/')) return { path: 'Must not end with /.' };
  return null;
}

type AccessMode = 'rw' | 'ro' | 'wo';

interface GrantGroup {
  name: FormControl<string>;
  access: FormControl<ModuleAccess>;
}

/** Server field name -> control path in this form. */
const SERVER_FIELDS = ['name', 'path', 'comment', 'maxConnections', 'timeout', 'hostsAllow', 'hostsDeny', 'refuseOptions', 'excludes', 'users'] as const;

@Component({
  selector: 'rh-module-form-page',
  imports: [ReactiveFormsModule, RouterLink, MatFormFieldModule, MatInputModule, MatButtonModule, MatCheckboxModule, MatProgressBarModule, ErrorBannerComponent],
  templateUrl: './module-form.page.html',
  styleUrl: './module-form.page.css',
})
export class ModuleFormPage implements OnInit {
  private readonly api = inject(ApiService);
  private readonly router = inject(Router);
  private readonly fb = inject(FormBuilder).nonNullable;
  readonly auth = inject(AuthService);
  /** Route parameter: set when editing. */
  readonly name = input<string>();
  readonly editing = computed(() => !!this.name());
  readonly loading = signal(false);
  readonly saving = signal(false);
  readonly error = signal<ApiError | null>(null);
  readonly users = signal<RsyncUserDto[]>([]);
  readonly warnings = signal<string[]>([]);
  /** Where the server accepts module paths (from the daemon status); empty until known. */
  readonly storageRoots = signal<string[]>([]);
  readonly pathHint = computed(() => storageRootsHint(this.storageRoots()));
  readonly pathPlaceholder = computed(() => suggestModulePath(this.storageRoots(), 'name') || '/srv/rsynchub/modules/name');
  /** True once the user typed into the path field: from then on the name no longer drives the path. */
  private pathEdited = false;

  readonly form = this.fb.group({
    name: ['', [Validators.required, moduleNameValidator]],
    path: ['', [Validators.required, modulePathValidator]],
    comment: [''],
    mode: ['rw' as AccessMode],
    users: this.fb.array<FormGroup<GrantGroup>>([]),
    /** Access without a password; only meaningful without grants (the server refuses both). */
    anonymous: ['none' as ModuleAnonymousAccess],
    hostsAllow: [''],
    hostsDeny: [''],
    maxConnections: [0, [Validators.required, Validators.min(0), Validators.max(10000)]],
    timeout: [0, [Validators.required, Validators.min(0), Validators.max(86400)]],
    list: [false],
    ignoreErrors: [false],
    tlsOnly: [false],
    enabled: [true],
    refuseOptions: [''],
    excludes: [''],
  });

  constructor() {
    this.form.controls.name.valueChanges.pipe(takeUntilDestroyed()).subscribe(() => this.suggestPath());
  }

  get grants(): FormArray<FormGroup<GrantGroup>> {
    return this.form.controls.users;
  }

  ngOnInit(): void {
    void this.load();
  }

  private async load(): Promise<void> {
    this.loading.set(true);
    // The roots only improve the hint and the suggested path: the form works without them.
    void this.api
      .daemon()
      .then((d) => {
        this.storageRoots.set(Array.isArray(d.storageRoots) ? d.storageRoots : []);
        this.suggestPath();
      })
      .catch(() => undefined);
    try {
      const [users, mod] = await Promise.all([this.api.rsyncUsers(), this.name() ? this.api.module(this.name()!) : Promise.resolve(null)]);
      this.users.set(users);
      if (mod) this.fill(mod);
      // Safe by default: a new module starts with a password-protected grant for the first user, never anonymous.
      else if (users.length > 0 && this.grants.length === 0) this.addGrant(users[0]!.name, 'rw');
    } catch (err) {
      this.error.set(err as ApiError);
    } finally {
      this.loading.set(false);
    }
    if (!this.auth.canEdit()) this.form.disable();
  }

  private fill(m: ModuleDto): void {
    this.form.patchValue({
      name: m.name,
      path: m.path,
      comment: m.comment,
      mode: m.readOnly ? 'ro' : m.writeOnly ? 'wo' : 'rw',
      hostsAllow: m.hostsAllow.join('\n'),
      hostsDeny: m.hostsDeny.join('\n'),
      maxConnections: m.maxConnections,
      timeout: m.timeout,
      list: m.list,
      ignoreErrors: m.ignoreErrors,
      tlsOnly: m.tlsOnly ?? false,
      enabled: m.enabled,
      refuseOptions: m.refuseOptions.join(' '),
      excludes: m.excludes.join('\n'),
      anonymous: m.anonymous ?? 'none',
    });
    this.form.controls.name.disable();
    this.grants.clear();
    for (const u of m.users) this.addGrant(u.name, u.access);
    this.warnings.set(m.warnings);
  }

  /** Called on the user's own input into the path field; clearing it hands the path back to the suggestion. */
  onPathInput(value: string): void {
    this.pathEdited = value !== '';
    if (!this.pathEdited) this.suggestPath();
  }

  /** Prefills `<first root>/<name>` while creating, as long as the user has not typed a path of their own. */
  private suggestPath(): void {
    if (this.editing() || this.pathEdited || this.form.controls.path.disabled) return;
    const suggestion = suggestModulePath(this.storageRoots(), this.form.controls.name.value);
    if (suggestion !== this.form.controls.path.value) this.form.controls.path.setValue(suggestion);
  }

  addGrant(name = '', access: ModuleAccess = 'rw'): void {
    this.grants.push(this.fb.group({ name: [name, Validators.required], access: [access] }));
  }

  removeGrant(i: number): void {
    this.grants.removeAt(i);
  }

  /** The anonymous choice as it will be sent: with users granted there is no anonymous access. */
  anonymousChoice(): ModuleAnonymousAccess {
    return this.grants.length > 0 ? 'none' : this.form.controls.anonymous.value;
  }

  /** The request body the form describes. */
  body(): CreateModuleRequest {
    const v = this.form.getRawValue();
    return {
      name: v.name.trim(),
      path: v.path.trim(),
      comment: v.comment,
      readOnly: v.mode === 'ro',
      writeOnly: v.mode === 'wo',
      users: v.users.map((g) => ({ name: g.name, access: g.access })),
      anonymous: this.anonymousChoice(),
      hostsAllow: splitList(v.hostsAllow),
      hostsDeny: splitList(v.hostsDeny),
      maxConnections: Number(v.maxConnections),
      timeout: Number(v.timeout),
      list: v.list,
      ignoreErrors: v.ignoreErrors,
      tlsOnly: v.tlsOnly,
      enabled: v.enabled,
      refuseOptions: (v.refuseOptions ?? '').split(/[\s,]+/).filter(Boolean),
      excludes: splitList(v.excludes),
    };
  }

  async save(): Promise<void> {
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      this.error.set({ status: 0, kind: 'client', message: 'Fix the highlighted fields first.', details: [] });
      return;
    }
    this.saving.set(true);
    this.error.set(null);
    try {
      const body = this.body();
      let saved: ModuleDto;
      if (this.editing()) {
        const { name: _name, ...patch } = body;
        saved = await this.api.updateModule(this.name()!, patch satisfies UpdateModuleRequest);
      } else {
        saved = await this.api.createModule(body);
      }
      await this.router.navigate(['/modules', saved.name], { state: { warnings: saved.warnings } });
    } catch (err) {
      const e = err as ApiError;
      this.error.set(e);
      this.showServerErrors(e);
    } finally {
      this.saving.set(false);
    }
  }

  /** Puts the server's per-field messages under the matching inputs. */
  private showServerErrors(e: ApiError): void {
    for (const field of SERVER_FIELDS) {
      const msgs = fieldMessages(e, field);
      if (!msgs.length || field === 'users') continue;
      const ctrl = this.form.get(field);
      ctrl?.setErrors({ ...(ctrl.errors ?? {}), server: msgs.join('; ') });
      ctrl?.markAsTouched();
    }
  }

  usersError(): string[] {
    // Grant problems (e.g. an rw grant on a read-only module) are shown with the grants they are about.
    const e = this.error();
    const grantFields = (e?.details ?? []).filter((d) => /^users\[\d+\]/.test(d.field)).map((d) => `${d.field}: ${d.message}`);
    return [...fieldMessages(e, 'users'), ...fieldMessages(e, 'anonymous'), ...grantFields];
  }

  err(field: string): string | null {
    const c = this.form.get(field);
    if (!c || !c.errors || !(c.touched || c.dirty)) return null;
    const e = c.errors;
    if (e['required']) return 'Required.';
    if (e['pattern']) return String(e['pattern']);
    if (e['path']) return String(e['path']);
    if (e['min'] || e['max']) return `Must be between ${field === 'timeout' ? '0 and 86400' : '0 and 10000'}.`;
    if (e['server']) return String(e['server']);
    return null;
  }
}
