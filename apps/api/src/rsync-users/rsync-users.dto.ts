import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsOptional, IsString } from 'class-validator';
import type { CreateRsyncUserRequest, UpdateRsyncUserRequest } from '@rsynchub/contracts';

export class CreateRsyncUserBody implements CreateRsyncUserRequest {
  @ApiProperty({ example: 'admin1', description: 'rsync auth user name, ^[a-z_][a-z0-9_.-]{0,31}$' })
  @IsString()
  name!: string;

  @ApiPropertyOptional({ description: 'Write only. Omit to have a strong password generated and returned once.', writeOnly: true })
  @IsOptional()
  @IsString()
  password?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  comment?: string;
}

export class UpdateRsyncUserBody implements UpdateRsyncUserRequest {
  @ApiPropertyOptional({ description: 'Write only: sets or rotates the password.', writeOnly: true })
  @IsOptional()
  @IsString()
  password?: string;

  @ApiPropertyOptional({ description: 'Generate a new password and return it once.' })
  @IsOptional()
  @IsBoolean()
  generatePassword?: boolean;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  comment?: string;
}
