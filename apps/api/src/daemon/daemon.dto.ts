import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsArray, IsBoolean, IsInt, IsOptional, IsString } from 'class-validator';
import type { DaemonSettingsDto, DaemonState, DaemonStatusDto, UpdateDaemonSettingsRequest } from '@rsynchub/contracts';

// Shape checks only; the rsyncd rules (what may reach the config) live in @rsynchub/rsyncd and run in the service.
export class UpdateDaemonSettingsBody implements UpdateDaemonSettingsRequest {
  @ApiPropertyOptional({ description: 'TCP port the daemon listens on (restart happens automatically)' })
  @IsOptional() @IsInt() port?: number;

  @ApiPropertyOptional({ description: 'IP address to bind, e.g. 0.0.0.0' })
  @IsOptional() @IsString() address?: string;

  @ApiPropertyOptional({ description: 'Message of the day shown to clients listing modules' })
  @IsOptional() @IsString() motd?: string;

  @ApiPropertyOptional({ description: 'Default max connections per module; 0 = unlimited' })
  @IsOptional() @IsInt() maxConnections?: number;

  @ApiPropertyOptional({ description: 'I/O timeout in seconds; 0 = none' })
  @IsOptional() @IsInt() timeout?: number;

  @ApiPropertyOptional() @IsOptional() @IsBoolean() reverseLookup?: boolean;

  @ApiPropertyOptional({ type: [String], description: 'Default hosts allow (IP or CIDR)' })
  @IsOptional() @IsArray() @IsString({ each: true }) hostsAllow?: string[];

  @ApiPropertyOptional({ type: [String], description: 'Default hosts deny (IP or CIDR)' })
  @IsOptional() @IsArray() @IsString({ each: true }) hostsDeny?: string[];

  @ApiPropertyOptional({ description: 'Host name or IP sources use to reach this server (connect snippets); empty = automatic' })
  @IsOptional() @IsString() publicHost?: string;
}

export class DaemonSettingsView implements DaemonSettingsDto {
  @ApiProperty() port!: number;
  @ApiProperty() address!: string;
  @ApiProperty() motd!: string;
  @ApiProperty() maxConnections!: number;
  @ApiProperty() timeout!: number;
  @ApiProperty() reverseLookup!: boolean;
  @ApiProperty({ type: [String] }) hostsAllow!: string[];
  @ApiProperty({ type: [String] }) hostsDeny!: string[];
  @ApiProperty({ description: "Set value; '' = automatic" }) publicHost!: string;
  @ApiProperty({ description: 'publicHost, or the automatic default (first non-loopback address)' }) publicHostEffective!: string;
}

export class DaemonStatusView implements DaemonStatusDto {
  @ApiProperty({ enum: ['starting', 'running', 'stopped', 'crashed'] }) state!: DaemonState;
  @ApiProperty({ nullable: true, type: Number }) pid!: number | null;
  @ApiProperty() port!: number;
  @ApiProperty() address!: string;
  @ApiProperty({ nullable: true, type: String }) version!: string | null;
  @ApiProperty({ nullable: true, type: Number }) uptimeSeconds!: number | null;
  @ApiProperty({ nullable: true, type: String }) startedAt!: string | null;
  @ApiProperty() restarts!: number;
  @ApiProperty({ nullable: true, type: Object }) lastExit!: DaemonStatusDto['lastExit'];
  @ApiProperty({ nullable: true, type: String }) lastError!: string | null;
  @ApiProperty() runningAsRoot!: boolean;
  @ApiProperty({ type: [String] }) storageRoots!: string[];
}
