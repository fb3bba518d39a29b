import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/**
 * A client certificate the console issued from the private CA (issue 11). Its private key is never stored (made on
 * the source from a CSR, or returned once). Revoking sets `revokedAt` and keeps the row.
 */
@Entity('tls_client_certs')
export class TlsClientCertEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column('text') name!: string;
  /** `sha256:<hex>` of the DER. */
  @Column('text') fingerprint!: string;
  @Column('text') serial!: string;
  /** The certificate (PEM): public, kept so the list can be checked against what the fronts allow. */
  @Column('text') certificate!: string;
  @Column('datetime', { name: 'not_before' }) notBefore!: Date;
  @Column('datetime', { name: 'not_after' }) notAfter!: Date;
  @Column('datetime', { name: 'created_at' }) createdAt!: Date;
  @Column('text', { name: 'created_by' }) createdBy!: string;
  @Column('datetime', { name: 'revoked_at', nullable: true }) revokedAt!: Date | null;
}
