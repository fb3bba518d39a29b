import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsArray, IsBoolean, IsIn, IsInt, IsOptional, IsString, MaxLength, ValidateIf, ValidateNested } from 'class-validator';
import type { CreateModuleRequest, ModuleAccess, ModuleAnonymousAccess, ModuleUserGrant, UpdateModuleRequest } from '@rsynchub/contracts';

// Shape checks only. What may reach rsyncd.conf (names, paths, hosts, injection) is decided by @rsynchub/rsyncd
// in the service, so the web console and the import share the same rules.

export class ModuleUserGrantBody implements ModuleUserGrant {
  @ApiProperty({ example: 'admin1' }) @IsString() name!: string;
  @ApiProperty({ enum: ['rw', 'ro'] }) @IsIn(['rw', 'ro']) access!: ModuleAccess;
}

class ModuleOptionsBody {
  @ApiPropertyOptional() @IsOptional() @IsString() comment?: string;
  @ApiPropertyOptional({ default: false }) @IsOptional() @IsBoolean() readOnly?: boolean;
  @ApiPropertyOptional({ default: false }) @IsOptional() @IsBoolean() writeOnly?: boolean;
  @ApiPropertyOptional({ default: true }) @IsOptional() @IsBoolean() list?: boolean;
  @ApiPropertyOptional({ default: false }) @IsOptional() @IsBoolean() ignoreErrors?: boolean;
  @ApiPropertyOptional({ default: 0, description: '0 = unlimited' }) @IsOptional() @IsInt() maxConnections?: number;
  @ApiPropertyOptional({ default: 0, description: 'seconds, 0 = none' }) @IsOptional() @IsInt() timeout?: number;
  @ApiPropertyOptional({ type: [String], description: 'IP, CIDR, address/mask, host name or wildcard, @netgroup' }) @IsOptional() @IsArray() @IsString({ each: true }) hostsAllow?: string[];
  @ApiPropertyOptional({ type: [String], description: 'IP, CIDR, address/mask, host name or wildcard (e.g. *), @netgroup' }) @IsOptional() @IsArray() @IsString({ each: true }) hostsDeny?: string[];
  @ApiPropertyOptional({ type: [ModuleUserGrantBody] })
  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => ModuleUserGrantBody)
  users?: ModuleUserGrantBody[];
  @ApiPropertyOptional({
    enum: ['none', 'read', 'read-write'],
    default: 'none',
    description: "access without a password; 'none' needs at least one user grant, 'read' needs readOnly (defaults it to true on create)",
  })
  @IsOptional() @IsIn(['none', 'read', 'read-write']) anonymous?: ModuleAnonymousAccess;
  @ApiPropertyOptional({ type: [String] }) @IsOptional() @IsArray() @IsString({ each: true }) refuseOptions?: string[];
  @ApiPropertyOptional({ type: [String] }) @IsOptional() @IsArray() @IsString({ each: true }) excludes?: string[];
  @ApiPropertyOptional({ default: true }) @IsOptional() @IsBoolean() enabled?: boolean;
  @ApiPropertyOptional({ nullable: true, type: String, description: 'only honoured when the server runs as root' })
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsString() uid?: string | null;
  @ApiPropertyOptional({ nullable: true, type: String, description: 'only honoured when the server runs as root' })
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsString() gid?: string | null;
  @ApiPropertyOptional({ nullable: true, type: Boolean, description: 'only honoured when the server runs as root' })
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsBoolean() useChroot?: boolean | null;
  @ApiPropertyOptional({ default: false, description: 'must be true for uid/gid root or 0 (transfers as root)' })
  @IsOptional() @IsBoolean() allowRootIds?: boolean;
  @ApiPropertyOptional({ default: false, description: 'accept this module only through the TLS listener (rsync-ssl, agent with tls: true)' })
  @IsOptional() @IsBoolean() tlsOnly?: boolean;
  @ApiPropertyOptional({ description: 'serve only TLS connections with a client certificate issued by this server and not revoked (implies tlsOnly)' })
  @IsOptional() @IsBoolean() tlsClientCert?: boolean;
}

export class CreateModuleBody extends ModuleOptionsBody implements CreateModuleRequest {
  @ApiProperty({ example: 'myhub1' }) @IsString() name!: string;
  @ApiProperty({ example: '/srv/rsynchub/myhub1', description: 'absolute, inside RSYNCHUB_STORAGE_ROOTS; created if missing' })
  @IsString()
  path!: string;
}

export class UpdateModuleBody extends ModuleOptionsBody implements UpdateModuleRequest {
  @ApiPropertyOptional() @IsOptional() @IsString() path?: string;
}

/** `GET /modules` query: strings as they arrive (ranges are checked in the controller, naming the parameter). */
export class ModuleListQueryBody {
  @ApiPropertyOptional({ description: '1..500: answer one page, as {items, total, limit, offset}; without it, the whole list as an array' })
  @IsOptional() @IsString() @MaxLength(10) limit?: string;
  @ApiPropertyOptional({ description: 'modules to skip (with limit)' }) @IsOptional() @IsString() @MaxLength(10) offset?: string;
  @ApiPropertyOptional({ description: 'only names starting with this, case-insensitive (with limit)' }) @IsOptional() @IsString() @MaxLength(128) q?: string;
}
