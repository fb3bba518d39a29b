import { ApiProperty } from '@nestjs/swagger';
import { IsBoolean } from 'class-validator';
import type { UpdateTlsRequest } from '@rsynchub/contracts';

export class UpdateTlsBody implements UpdateTlsRequest {
  @ApiProperty({ description: 'run the rsync-over-TLS listener (and its daemon)' }) @IsBoolean() enabled!: boolean;
}
