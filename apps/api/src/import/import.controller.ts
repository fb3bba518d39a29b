import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsBoolean, IsOptional, IsString, MaxLength } from 'class-validator';
import type { ImportRequest, ImportResponse } from '@rsynchub/contracts';
import { ImportService } from './import.service';

export class ImportBody implements ImportRequest {
  @ApiProperty({ description: 'Text of an existing rsyncd.conf' }) @IsString() @MaxLength(1_000_000) config!: string;
  @ApiPropertyOptional({ description: 'Text of its secrets file (name:password lines)' })
  @IsOptional() @IsString() @MaxLength(1_000_000) secrets?: string;
  @ApiPropertyOptional({ description: 'Skip modules whose names exist already instead of failing' })
  @IsOptional() @IsBoolean() skipExisting?: boolean;
}

@ApiTags('import')
@Controller('import')
export class ImportController {
  constructor(private readonly importer: ImportService) {}

  @Post()
  @HttpCode(200)
  run(@Body() body: ImportBody): Promise<ImportResponse> {
    return this.importer.importConfig(body);
  }
}
