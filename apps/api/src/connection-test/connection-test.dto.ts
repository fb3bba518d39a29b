import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import type { TestConnectionRequest } from '@rsynchub/contracts';

export class TestConnectionBody implements TestConnectionRequest {
  @ApiPropertyOptional({ description: 'Rsync user to log in as; absent for anonymous access' })
  @IsOptional() @IsString() @MaxLength(64) user?: string;
}
