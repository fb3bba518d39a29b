import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import type { AuditQuery, FileEventQuery, FileOp, TransferQuery, TransferStatus } from '@rsynchub/contracts';

// Query strings arrive as strings (or arrays when a name repeats): these classes let the global ValidationPipe refuse
// anything else with a 400 naming the parameter, and unknown parameters too. Ranges and formats are checked where
// they are used (pagination.ts).

class PageQuery {
  @ApiPropertyOptional({ description: 'from a previous page’s nextCursor' }) @IsOptional() @IsString() @MaxLength(200) cursor?: string;
  @ApiPropertyOptional({ description: 'page size' }) @IsOptional() @IsString() @MaxLength(10) limit?: number;
  @ApiPropertyOptional({ enum: ['json', 'csv'] }) @IsOptional() @IsIn(['json', 'csv']) format?: 'json' | 'csv';
}

export class TransferQueryDto extends PageQuery implements TransferQuery {
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(128) module?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(128) user?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(64) ip?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(32) status?: TransferStatus;
  @ApiPropertyOptional({ description: 'ISO 8601' }) @IsOptional() @IsString() @MaxLength(64) from?: string;
  @ApiPropertyOptional({ description: 'ISO 8601' }) @IsOptional() @IsString() @MaxLength(64) to?: string;
  @ApiPropertyOptional({ description: 'sessions that touched a file whose path contains this' }) @IsOptional() @IsString() @MaxLength(1024) path?: string;
}

export class FileEventQueryDto extends PageQuery implements FileEventQuery {
  @ApiPropertyOptional({ enum: ['recv', 'send', 'del'] }) @IsOptional() @IsIn(['recv', 'send', 'del']) op?: FileOp;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(1024) path?: string;
}

export class AuditQueryDto extends PageQuery implements AuditQuery {
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(128) actor?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(128) action?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(256) target?: string;
  @ApiPropertyOptional({ enum: ['success', 'failure'] }) @IsOptional() @IsIn(['success', 'failure']) outcome?: 'success' | 'failure';
  @ApiPropertyOptional({ description: 'ISO 8601' }) @IsOptional() @IsString() @MaxLength(64) from?: string;
  @ApiPropertyOptional({ description: 'ISO 8601' }) @IsOptional() @IsString() @MaxLength(64) to?: string;
}
