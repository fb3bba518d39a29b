import { Component, OnInit, computed, inject, signal } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { firstValueFrom } from 'rxjs';
import { MatButtonModule } from '@angular/material/button';
import { MatDialog } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import type { CreatedTlsClientCertDto, CreateTlsClientCertRequest, TlsClientCertDto } from '@rsynchub/contracts';
import { ApiService } from '../../core/api.service';
import { AuthService } from '../../core/auth.service';
import type { ApiError } from '../../core/api-error';
import { formatTime } from '../../core/format';
import { ErrorBannerComponent } from '../../shared/error-banner.component';
import { CopyBlockComponent } from '../../shared/copy-block.component';
import { ConfirmDialogComponent, type ConfirmData, type ConfirmResult } from '../../shared/confirm-dialog.component';
import { certFileName, clientCertNameProblem, clientCertStatus, csrCommand, pemDownloadHref } from './client-certs';

/**
 * Client certificates, one per source, issued from the private CA (a module may require one: tlsClientCert). Listed
 * for everyone; issued and revoked by admins. A key the server made is shown once, right after issuing.
 */
@Component({
  selector: 'rh-client-certs-section',
  imports: [FormsModule, MatButtonModule, MatFormFieldModule, MatInputModule, ErrorBannerComponent, CopyBlockComponent],
  template: `
    <section class="rh-card" data-testid="client-certs" id="client-certs">
      <h2>Client certificates</h2>
      <p class="rh-muted">A module set to require a client certificate accepts only sources that present one issued
        here and not revoked: <code>RSYNC_SSL_CERT</code> / <code>RSYNC_SSL_KEY</code> with rsync-ssl, <code>clientCert</code> /
        <code>clientKey</code> in an rsynchub-agent remote.</p>
      <rh-error-banner [error]="error()" />
      @if (certs() === null) {
        <p class="rh-muted">Loading…</p>
      } @else if (certs()!.length === 0) {
        <p class="rh-empty" data-testid="client-certs-empty">No client certificate issued yet.</p>
      } @else {
        <div class="rh-table-wrap" tabindex="0" role="region" aria-label="Client certificates">
          <table class="rh-table" data-testid="client-certs-table">
            <thead><tr><th>Name</th><th>SHA-256</th><th>Expires</th><th>Issued by</th><th>Status</th><th></th></tr></thead>
            <tbody>
              @for (c of certs(); track c.id) {
                <tr [attr.data-testid]="'client-cert-' + c.id" [attr.data-name]="c.name">
                  <td class="rh-break" data-testid="client-cert-name">{{ c.name }}</td>
                  <td><code class="rh-break">{{ c.fingerprint }}</code></td>
                  <td>{{ fmtTime(c.notAfter) }}</td>
                  <td>{{ c.createdBy }} <span class="rh-muted">{{ fmtTime(c.createdAt) }}</span></td>
                  <td><span class="rh-status" [class]="statusClass[status(c)]" data-testid="client-cert-status">{{ status(c) }}</span></td>
                  <td>
                    @if (auth.canEdit() && !c.revokedAt) {
                      <button mat-stroked-button color="warn" type="button" (click)="revoke(c)" [disabled]="busy()" [attr.data-testid]="'client-cert-revoke-' + c.id">Revoke</button>
                    }
                  </td>
                </tr>
              }
            </tbody>
          </table>
        </div>
      }

      @if (auth.canEdit()) {
        @if (issued(); as i) {
          <div class="issued" data-testid="client-cert-issued">
            <h3>Issued: <span class="rh-break">{{ i.name }}</span></h3>
            <rh-copy-block label="Certificate (RSYNC_SSL_CERT, an agent remote's clientCert):" [text]="i.certificate" testid="client-cert-pem" />
            <div class="rh-actions">
              <a mat-stroked-button [href]="href(i.certificate)" [attr.download]="fileName(i.name, 'crt')" data-testid="client-cert-download">Download {{ fileName(i.name, 'crt') }}</a>
            </div>
            @if (i.privateKey) {
              <p class="rh-danger-box" role="alert" data-testid="client-cert-key-warning">This private key is shown only once and is not stored
                on the server: download or copy it now, keep it on the source only (<code>chmod 600</code>). If it is lost,
                revoke the certificate and issue a new one.</p>
              <rh-copy-block label="Private key (RSYNC_SSL_KEY, an agent remote's clientKey):" [text]="i.privateKey" testid="client-cert-key" />
              <div class="rh-actions">
                <a mat-stroked-button [href]="href(i.privateKey)" [attr.download]="fileName(i.name, 'key')" data-testid="client-cert-key-download">Download {{ fileName(i.name, 'key') }}</a>
              </div>
            }
            <div class="rh-actions">
              <button mat-button type="button" (click)="issued.set(null)" data-testid="client-cert-issued-done">Done</button>
            </div>
          </div>
        }

        <form class="issue" (ngSubmit)="issue()" novalidate data-testid="client-cert-form">
          <h3>Issue a certificate</h3>
          <div class="rh-actions">
            <mat-form-field appearance="outline" subscriptSizing="dynamic">
              <mat-label>Name (the source)</mat-label>
              <input matInput name="name" [ngModel]="name()" (ngModelChange)="name.set($event); touched.set(true)" maxlength="64" required placeholder="web01" data-testid="client-cert-name-input" />
            </mat-form-field>
            <mat-form-field appearance="outline" subscriptSizing="dynamic">
              <mat-label>Valid for (days)</mat-label>
              <input matInput name="days" type="number" min="1" max="3650" [ngModel]="days()" (ngModelChange)="days.set($event)" data-testid="client-cert-days" />
            </mat-form-field>
          </div>
          @if (touched() && nameProblem(); as p) {<p class="field-error" role="alert" data-testid="client-cert-name-problem">Name: {{ p }}</p>}
          <mat-form-field appearance="outline" class="csr">
            <mat-label>Certificate request (CSR, optional)</mat-label>
            <textarea matInput name="csr" rows="5" [ngModel]="csr()" (ngModelChange)="csr.set($event)" spellcheck="false" placeholder="-----BEGIN CERTIFICATE REQUEST-----" data-testid="client-cert-csr"></textarea>
            <mat-hint>Best: make the key on the source and paste its request here, so the key never leaves the source. Empty: this server makes the key and shows it once.</mat-hint>
          </mat-form-field>
          <rh-copy-block label="Make the key and the request on the source:" [text]="csrCommand()" testid="client-cert-csr-command" />
          <div class="rh-actions">
            <button mat-flat-button color="primary" type="submit" [disabled]="busy()" data-testid="client-cert-issue">{{ busy() ? 'Issuing…' : 'Issue' }}</button>
          </div>
        </form>
      }
    </section>
  `,
  styles: `.csr { width: 100%; margin-top: 8px; } .issue, .issued { margin-top: 16px; } .rh-break { overflow-wrap: anywhere; word-break: break-word; }`,
})
export class ClientCertsSectionComponent implements OnInit {
  private readonly api = inject(ApiService);
  private readonly dialog = inject(MatDialog);
  readonly auth = inject(AuthService);
  readonly certs = signal<TlsClientCertDto[] | null>(null);
  readonly issued = signal<CreatedTlsClientCertDto | null>(null);
  readonly error = signal<ApiError | null>(null);
  readonly busy = signal(false);
  readonly name = signal('');
  readonly days = signal<number | null>(825);
  readonly csr = signal('');
  readonly touched = signal(false);
  readonly nameProblem = computed(() => clientCertNameProblem(this.name().trim()));
  readonly csrCommand = computed(() => csrCommand(this.name().trim()));
  readonly fmtTime = formatTime;
  readonly href = pemDownloadHref;
  readonly fileName = certFileName;
  readonly statusClass = { active: 'success', revoked: 'error', expired: 'stale' } as const;

  status(c: TlsClientCertDto) {
    return clientCertStatus(c);
  }

  ngOnInit(): void {
    void this.load();
  }

  async load(): Promise<void> {
    try {
      this.certs.set(await this.api.tlsClientCerts());
      this.error.set(null);
    } catch (err) {
      this.error.set(err as ApiError);
      if (this.certs() === null) this.certs.set([]);
    }
  }

  async issue(): Promise<void> {
    this.touched.set(true);
    if (this.nameProblem()) return;
    const body: CreateTlsClientCertRequest = { name: this.name().trim() };
    const csr = this.csr().trim();
    if (csr) body.csr = csr;
    const days = this.days();
    if (days !== null && String(days) !== '') body.days = Number(days);
    this.busy.set(true);
    try {
      this.issued.set(await this.api.createTlsClientCert(body));
      this.error.set(null);
      this.name.set('');
      this.csr.set('');
      this.touched.set(false);
      await this.load();
    } catch (err) {
      this.error.set(err as ApiError);
    } finally {
      this.busy.set(false);
    }
  }

  async revoke(c: TlsClientCertDto): Promise<void> {
    const data: ConfirmData = {
      title: `Revoke ${c.name}?`,
      message: `Sources presenting this certificate (${c.fingerprint}) are refused from now on by every module that requires one. This cannot be undone: issue a new certificate to let the source in again.`,
      confirmLabel: 'Revoke',
    };
    const res = await firstValueFrom(this.dialog.open<ConfirmDialogComponent, ConfirmData, ConfirmResult>(ConfirmDialogComponent, { data }).afterClosed());
    if (!res?.confirmed) return;
    this.busy.set(true);
    try {
      await this.api.revokeTlsClientCert(c.id);
      if (this.issued()?.id === c.id) this.issued.set(null);
      await this.load();
    } catch (err) {
      this.error.set(err as ApiError);
    } finally {
      this.busy.set(false);
    }
  }
}
