import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString } from 'class-validator';
import type { CreateTlsClientCertRequest, TlsClientCertDto } from '@rsynchub/contracts';
import type { TlsClientCertEntity } from './tls-client-cert.entity';

/** The rules themselves (name characters, CSR, day range) are checked by the service, each with a message naming its field. */
export class CreateTlsClientCertBody implements CreateTlsClientCertRequest {
  @ApiProperty({ description: '1-64 characters: letters, digits, ".", "_", "-"; the certificate\'s CN; unique among certificates not revoked' })
  @IsString()
  name!: string;
  @ApiPropertyOptional({ description: 'PKCS#10 request (PEM) made on the source: only its public key is used. Without it the server makes the key and returns it once.' })
  @IsOptional()
  @IsString()
  csr?: string;
  @ApiPropertyOptional({ description: 'validity in days, 1-3650', default: 825 })
  @IsOptional()
  @IsInt()
  days?: number;
}

export function toClientCertDto(e: TlsClientCertEntity): TlsClientCertDto {
  return {
    id: e.id,
    name: e.name,
    fingerprint: e.fingerprint,
    serial: e.serial,
    notBefore: e.notBefore.toISOString(),
    notAfter: e.notAfter.toISOString(),
    createdAt: e.createdAt.toISOString(),
    createdBy: e.createdBy,
    revokedAt: e.revokedAt ? e.revokedAt.toISOString() : null,
  };
}
