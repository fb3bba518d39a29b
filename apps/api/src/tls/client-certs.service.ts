import { ConflictException, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, IsNull, Repository } from 'typeorm';
import type { CreatedTlsClientCertDto, TlsClientCertDto } from '@rsynchub/contracts';
import { assertValid, FieldConflict, notFound, ValidationFailed } from '../common/errors';
import { DbWriteQueue } from '../database/db-write-queue';
import { writeFilesAtomically } from '../daemon/atomic-file';
import type { CertificateStore } from './certificate-store';
import { allowedFingerprintsText, checkCsr, clientCertRequestIssues, issueClientCertificate, type ClientCertRequest } from './client-certificates';
import { toClientCertDto } from './client-certs.dto';
import { TlsClientCertEntity } from './tls-client-cert.entity';
import { CERTIFICATE_STORE } from './tls.service';

/**
 * Certificates not revoked at most: every TLS connection with a client certificate reads the allowed file (65 bytes
 * a line), and a flood of issue requests must not grow it without end. Revoked rows do not count.
 */
export const MAX_ACTIVE_CLIENT_CERTS = 10_000;

/**
 * Issues, lists and revokes client certificates, and keeps `<data dir>/tls/client-certs.allowed` (0600, replaced
 * atomically) equal to the fingerprints of those not revoked. The TLS fronts read that file on every connection that
 * presents a certificate, so a revocation holds for the next connection with nothing restarted. The file is written
 * inside the database transaction (which rolls back if the write fails) and rewritten from the table at start, so it
 * never allows a certificate the table says is revoked.
 */
@Injectable()
export class ClientCertsService implements OnApplicationBootstrap {
  private readonly logger = new Logger(ClientCertsService.name);

  constructor(
    @InjectRepository(TlsClientCertEntity) private readonly repo: Repository<TlsClientCertEntity>,
    private readonly writes: DbWriteQueue,
    @Inject(CERTIFICATE_STORE) private readonly store: CertificateStore,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    try {
      await this.writes.transaction((em) => this.writeAllowed(em));
    } catch (err) {
      // Without the file no certificate passes: tlsClientCert modules are closed, nothing is opened by mistake.
      this.logger.error(`could not write the allowed client certificates file: ${(err as Error).message}`);
    }
  }

  async list(): Promise<TlsClientCertDto[]> {
    const rows = await this.repo.find({ order: { createdAt: 'DESC', id: 'DESC' } });
    return rows.map(toClientCertDto);
  }

  async issue(actor: string, body: ClientCertRequest): Promise<CreatedTlsClientCertDto> {
    assertValid(clientCertRequestIssues(body));
    let publicKey;
    if (typeof body.csr === 'string' && body.csr.trim() !== '') {
      const checked = await checkCsr(body.csr);
      if (!checked.ok) throw new ValidationFailed([{ field: 'csr', message: checked.message }]);
      publicKey = checked.publicKey;
    } else if (typeof body.csr === 'string') {
      throw new ValidationFailed([{ field: 'csr', message: 'is empty: send a PEM certificate request, or leave csr out for a server-made key' }]);
    }
    const ca = await this.store.clientCa();
    const issued = await issueClientCertificate({ ca, name: body.name, publicKey, days: body.days });
    const saved = await this.writes.transaction(async (em) => {
      const repo = em.getRepository(TlsClientCertEntity);
      const taken = await repo
        .createQueryBuilder('c')
        .where('c.name = :name COLLATE NOCASE AND c.revoked_at IS NULL', { name: body.name })
        .getOne();
      if (taken) {
        throw new FieldConflict(
          'name',
          `is already used by certificate ${taken.id} (${taken.fingerprint}), not revoked: revoke it first or choose another name`,
          `a client certificate named "${taken.name}" is already issued and not revoked`,
        );
      }
      const active = await repo.count({ where: { revokedAt: IsNull() } });
      if (active >= MAX_ACTIVE_CLIENT_CERTS) {
        throw new ConflictException(`${active} client certificates are issued and not revoked, the most this server keeps: revoke unused ones first`);
      }
      const row = await repo.save(
        repo.create({
          name: body.name,
          fingerprint: issued.fingerprint,
          serial: issued.serial,
          certificate: issued.certificate,
          notBefore: issued.notBefore,
          notAfter: issued.notAfter,
          createdAt: new Date(),
          createdBy: actor,
          revokedAt: null,
        }),
      );
      await this.writeAllowed(em);
      return row;
    });
    // Name, fingerprint and serial only: never the key (it is not logged anywhere).
    this.logger.log(`issued client certificate ${saved.id} "${saved.name}" (${saved.fingerprint}, serial ${saved.serial}) by ${actor}`);
    return {
      ...toClientCertDto(saved),
      certificate: issued.certificate,
      caCertificate: ca.certPem,
      ...(issued.privateKey !== undefined ? { privateKey: issued.privateKey } : {}),
    };
  }

  /**
   * Revokes (keeps the row with `revokedAt`). Revoking a revoked certificate is a no-op that answers 200 with the row
   * as it is (its first revocation time): a retried request or two admins at once get the same answer.
   */
  async revoke(id: number): Promise<{ before: TlsClientCertDto; after: TlsClientCertDto }> {
    return this.writes.transaction(async (em) => {
      const repo = em.getRepository(TlsClientCertEntity);
      const row = await repo.findOneBy({ id });
      if (!row) throw notFound('client certificate', String(id));
      const before = toClientCertDto(row);
      if (row.revokedAt === null) {
        row.revokedAt = new Date();
        await repo.save(row);
        await this.writeAllowed(em);
        this.logger.log(`revoked client certificate ${row.id} "${row.name}" (${row.fingerprint})`);
      }
      return { before, after: toClientCertDto(row) };
    });
  }

  /** The allowed file from the table as `em` sees it (inside the caller's transaction: a failed write rolls it back). */
  private async writeAllowed(em: EntityManager): Promise<void> {
    const rows = await em.getRepository(TlsClientCertEntity).find({ select: { fingerprint: true }, where: { revokedAt: IsNull() } });
    writeFilesAtomically([{ file: this.store.clientAllowedFile, content: allowedFingerprintsText(rows.map((r) => r.fingerprint)) }]);
  }
}
