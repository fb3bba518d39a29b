import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';
import {
  ADMIN_ROLES,
  AdminDto,
  AdminRole,
  ApiTokenDto,
  ChangePasswordRequest,
  CreateAdminRequest,
  CreateApiTokenRequest,
  CreateApiTokenResponse,
  LoginRequest,
  LoginResponse,
  MeResponse,
  ResetAdminPasswordRequest,
  UpdateAdminRequest,
} from '@rsynchub/contracts';
import { API_TOKEN_SCOPES, type ApiTokenScope } from '@rsynchub/contracts';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from './passwords';

/** Lowercase, starts with a letter or underscore, at most 32 characters (like Unix user names). */
export const USERNAME_PATTERN = /^[a-z_][a-z0-9_.-]{0,31}$/;

// ---------------------------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------------------------

export class LoginRequestBody implements LoginRequest {
  @ApiProperty({ example: 'admin' })
  @IsString()
  @MinLength(1)
  @MaxLength(256)
  username!: string;

  @ApiProperty({ format: 'password' })
  @IsString()
  @MinLength(1)
  @MaxLength(MAX_PASSWORD_LENGTH)
  password!: string;
}

export class ChangePasswordRequestBody implements ChangePasswordRequest {
  @ApiProperty({ format: 'password' })
  @IsString()
  @MinLength(1)
  @MaxLength(MAX_PASSWORD_LENGTH)
  currentPassword!: string;

  @ApiProperty({ format: 'password', minLength: MIN_PASSWORD_LENGTH, maxLength: MAX_PASSWORD_LENGTH })
  @IsString()
  @MinLength(MIN_PASSWORD_LENGTH)
  @MaxLength(MAX_PASSWORD_LENGTH)
  newPassword!: string;
}

export class CreateAdminRequestBody implements CreateAdminRequest {
  @ApiProperty({ pattern: USERNAME_PATTERN.source, example: 'alice' })
  @IsString()
  @Matches(USERNAME_PATTERN, { message: 'username must match ^[a-z_][a-z0-9_.-]{0,31}$ (lowercase, at most 32 characters)' })
  username!: string;

  @ApiProperty({ format: 'password', minLength: MIN_PASSWORD_LENGTH, maxLength: MAX_PASSWORD_LENGTH })
  @IsString()
  @MinLength(MIN_PASSWORD_LENGTH)
  @MaxLength(MAX_PASSWORD_LENGTH)
  password!: string;

  @ApiProperty({ enum: ADMIN_ROLES })
  @IsIn(ADMIN_ROLES)
  role!: AdminRole;
}

export class UpdateAdminRequestBody implements UpdateAdminRequest {
  @ApiPropertyOptional({ format: 'password', minLength: MIN_PASSWORD_LENGTH, maxLength: MAX_PASSWORD_LENGTH })
  @IsOptional()
  @IsString()
  @MinLength(MIN_PASSWORD_LENGTH)
  @MaxLength(MAX_PASSWORD_LENGTH)
  password?: string;

  @ApiPropertyOptional({ enum: ADMIN_ROLES })
  @IsOptional()
  @IsIn(ADMIN_ROLES)
  role?: AdminRole;
}

export class ResetAdminPasswordRequestBody implements ResetAdminPasswordRequest {
  @ApiPropertyOptional({
    format: 'password',
    minLength: MIN_PASSWORD_LENGTH,
    maxLength: MAX_PASSWORD_LENGTH,
    description: 'The temporary password; leave it out to have a strong one generated and returned once.',
  })
  @IsOptional()
  @IsString()
  @MinLength(MIN_PASSWORD_LENGTH)
  @MaxLength(MAX_PASSWORD_LENGTH)
  password?: string;
}

export class CreateApiTokenRequestBody implements CreateApiTokenRequest {
  @ApiProperty({ example: 'provisioning', maxLength: 100 })
  @IsString()
  @Matches(/\S/, { message: 'name must not be blank' })
  @MaxLength(100)
  name!: string;

  @ApiPropertyOptional({ description: 'Lifetime in days; absent means no expiry.', minimum: 1, maximum: 3650 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(3650)
  expiresInDays?: number;

  @ApiPropertyOptional({ enum: API_TOKEN_SCOPES, default: 'admin', description: 'admin: what the creating account may do; read: GET routes and /metrics; source: heartbeats only.' })
  @IsOptional()
  @IsIn(API_TOKEN_SCOPES, { message: `scope must be one of: ${API_TOKEN_SCOPES.join(', ')}` })
  scope?: ApiTokenScope;

  @ApiPropertyOptional({ maxLength: 128, description: 'Only with scope source: the one source name the token may report as.' })
  @IsOptional()
  @IsString()
  @Matches(/^[^\x00-\x1f\x7f]{1,128}$/, { message: 'sourceName must be 1-128 characters without control characters' })
  sourceName?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Responses (documentation classes; the services return plain objects of these shapes)
// ---------------------------------------------------------------------------------------------------------------

export class AdminView implements AdminDto {
  @ApiProperty() id!: number;
  @ApiProperty() username!: string;
  @ApiProperty({ enum: ADMIN_ROLES }) role!: AdminRole;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) lastLoginAt!: string | null;
}

export class LoginResponseView implements LoginResponse {
  @ApiProperty({ description: 'Session token, also set as the HttpOnly cookie rsynchub_session; usable as Authorization: Bearer.' })
  token!: string;
  @ApiProperty({ type: AdminView }) admin!: AdminView;
  @ApiProperty() mustChangePassword!: boolean;
}

export class MeResponseView implements MeResponse {
  @ApiProperty({ type: AdminView }) admin!: AdminView;
  @ApiProperty({ enum: ['session', 'token'] }) via!: 'session' | 'token';
  @ApiProperty() mustChangePassword!: boolean;
}

export class ApiTokenView implements ApiTokenDto {
  @ApiProperty() id!: number;
  @ApiProperty() name!: string;
  @ApiProperty({ description: 'First characters of the token, to recognise it; never enough to use it.' }) prefix!: string;
  @ApiProperty() adminId!: number;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) lastUsedAt!: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) expiresAt!: string | null;
  @ApiProperty({ enum: API_TOKEN_SCOPES }) scope!: ApiTokenScope;
  @ApiProperty({ nullable: true, type: String }) sourceName!: string | null;
}

export class CreateApiTokenResponseView implements CreateApiTokenResponse {
  @ApiProperty({ type: ApiTokenView }) token!: ApiTokenView;
  @ApiProperty({ description: 'The secret token itself. Shown once, stored hashed.' }) secret!: string;
}
