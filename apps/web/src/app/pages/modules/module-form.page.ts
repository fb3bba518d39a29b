import { Component, ElementRef, Injector, OnInit, computed, inject, input, signal } from '@angular/core';
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
import type { ApiError } from '../../core/api-error';
import { applyServerErrors, bannerRemainder, detailPath, focusFirstProblem, spellOut, type FormErrorOptions } from '../../core/form-errors';
import { warnBeforeUnload, type HasUnsavedChanges } from '../../core/unsaved-changes';
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

/** How this form names the server's fields, and how it counts list entries (see core/form-errors). */
export const MODULE_FORM_ERRORS: FormErrorOptions = {
  labels: {
    name: 'Name',
    path: 'Path on this server',
    comment: 'Comment',
    readOnly: 'Access',
    writeOnly: 'Access',
    hostsAllow: 'Hosts allow',
    hostsDeny: 'Hosts deny',
    maxConnections: 'Max connections',
    timeout: 'Timeout',
    refuseOptions: 'Refuse options',
    excludes: 'Excludes',
    users: 'Users allowed',
    anonymous: 'Without a password',
  },
  lists: { hostsAllow: 'line', hostsDeny: 'line', excludes: 'line', refuseOptions: 'entry' },
};

/** What each access mode means, shown under the (short) choice so the select never cuts its text. */
export const ACCESS_MODE_HINTS: Record<'rw' | 'ro' | 'wo', string> = {
  rw: 'Clients push and pull.',
  ro: 'Clients only pull; user grants must be ro.',
  wo: 'Clients only push.',
};

@Component({
  selector: 'rh-module-form-page',
  imports: [ReactiveFormsModule, RouterLink, MatFormFieldModule, MatInputModule, MatButtonModule, MatCheckboxModule, MatProgressBarModule, ErrorBannerComponent],
  templateUrl: './module-form.page.html',
  styleUrl: './module-form.page.css',
})
export class ModuleFormPage implements OnInit, HasUnsavedChanges {
  private readonly api = inject(ApiService);
  private readonly host = inject<ElementRef<HTMLElement>>(ElementRef);
  private readonly injector = inject(Injector);
  readonly errorOptions = MODULE_FORM_ERRORS;
  readonly modeHints = ACCESS_MODE_HINTS;
  /** Server details shown with the grants (users, anonymous), not on an input of their own. */
  readonly grantErrors = signal<string[]>([]);
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
    /** Only sources with a client certificate issued on the Encryption page (issue 11); implies tlsOnly. */
    tlsClientCert: [false],
    enabled: [true],
    refuseOptions: [''],
    excludes: [''],
  });

  constructor() {
    this.form.controls.name.valueChanges.pipe(takeUntilDestroyed()).subscribe(() => this.suggestPath());
    this.form.controls.tlsClientCert.valueChanges.pipe(takeUntilDestroyed()).subscribe((on) => this.applyClientCertImplies(on));
    // "Fix the highlighted fields first." goes as soon as they are fixed, not at the next submit.
    this.form.statusChanges.pipe(takeUntilDestroyed()).subscribe(() => {
      if (this.error()?.kind === 'client' && this.form.valid) this.error.set(null);
    });
    warnBeforeUnload(() => this.hasUnsavedChanges());
  }

  /** Edited and not saved (asked before leaving: route guard and the browser's beforeunload). */
  hasUnsavedChanges(): boolean {
    return this.form.dirty && !this.saving();
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

  /** The module being edited required a client certificate (so turning it off must be sent). */
  private hadClientCert = false;

  private fill(m: ModuleDto): void {
    this.hadClientCert = m.tlsClientCert === true;
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
      tlsOnly: (m.tlsOnly ?? false) || (m.tlsClientCert ?? false),
      tlsClientCert: m.tlsClientCert ?? false,
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

  /**
   * A client certificate comes only over TLS: while required, "TLS only" is checked and cannot be unchecked (the
   * server implies it too). Unchecking it gives the box back, still checked: turning TLS off is a choice of its own.
   */
  private applyClientCertImplies(on: boolean): void {
    const tlsOnly = this.form.controls.tlsOnly;
    if (on) {
      if (!tlsOnly.value) tlsOnly.setValue(true);
      tlsOnly.disable({ emitEvent: false });
    } else if (this.auth.canEdit()) {
      tlsOnly.enable({ emitEvent: false });
    }
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

  /** The Add-user button: a change of the admin's own, unlike the grant the form starts with. */
  addGrantByHand(): void {
    this.addGrant();
    this.form.markAsDirty();
  }

  removeGrant(i: number): void {
    this.grants.removeAt(i);
    this.form.markAsDirty();
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
      tlsOnly: v.tlsOnly || v.tlsClientCert,
      // Sent when on, or to turn it off: a server without client certificates never sees the field.
      ...(v.tlsClientCert || this.hadClientCert ? { tlsClientCert: v.tlsClientCert } : {}),
      enabled: v.enabled,
      refuseOptions: (v.refuseOptions ?? '').split(/[\s,]+/).filter(Boolean),
      excludes: splitList(v.excludes),
    };
  }

  async save(): Promise<void> {
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      this.error.set({ status: 0, kind: 'client', message: 'Fix the highlighted fields first.', details: [] });
      focusFirstProblem(this.host.nativeElement, this.injector);
      return;
    }
    this.saving.set(true);
    this.error.set(null);
    this.grantErrors.set([]);
    try {
      const body = this.body();
      let saved: ModuleDto;
      if (this.editing()) {
        const { name: _name, ...patch } = body;
        saved = await this.api.updateModule(this.name()!, patch satisfies UpdateModuleRequest);
      } else {
        saved = await this.api.createModule(body);
      }
      this.form.markAsPristine();
      await this.router.navigate(['/modules', saved.name], { state: { warnings: saved.warnings } });
    } catch (err) {
      this.showServerErrors(err as ApiError);
    } finally {
      this.saving.set(false);
    }
  }

  /**
   * Each server detail once, on what it concerns: the input of its field, or the grants (users, anonymous); only
   * what fits nowhere stays in the banner. Then focus goes to the first of them.
   */
  private showServerErrors(e: ApiError): void {
    const c = this.form.controls;
    const rest = applyServerErrors(
      {
        name: c.name, path: c.path, comment: c.comment, readOnly: c.mode, writeOnly: c.mode, hostsAllow: c.hostsAllow, hostsDeny: c.hostsDeny,
        maxConnections: c.maxConnections, timeout: c.timeout, refuseOptions: c.refuseOptions, excludes: c.excludes,
      },
      e,
      this.errorOptions,
    );
    const aboutGrants = (f: unknown) => f === 'users' || f === 'anonymous';
    this.grantErrors.set(rest.filter((d) => aboutGrants(detailPath(d)[0])).map((d) => this.grantMessage(d.field, detailPath(d), d.message)));
    this.error.set(bannerRemainder(e, rest.filter((d) => !aboutGrants(detailPath(d)[0]))));
    focusFirstProblem(this.host.nativeElement, this.injector);
  }

  /** `users[1].access` -> "User 2 (bob): access is 'rw' but …"; `users` / `anonymous` with the grants' own words. */
  private grantMessage(field: string, path: (string | number)[], message: string): string {
    const [first, index, ...rest] = path;
    if (first === 'users' && typeof index === 'number') {
      const who = this.grants.at(index)?.controls.name.value;
      // "name" says nothing the user's own name in brackets does not; "access" does.
      const sub = rest.filter((s) => s !== 'name').map((s) => spellOut(String(s)).toLowerCase()).join(' ');
      return `User ${index + 1}${who ? ` (${who})` : ''}: ${sub ? sub + ' ' : ''}${message}`;
    }
    return `${this.errorOptions.labels?.[String(first)] ?? field}: ${message}`;
  }

  usersError(): string[] {
    return this.grantErrors();
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
