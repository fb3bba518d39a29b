import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsOptional, IsString, Length, Max, Min, ValidateNested } from 'class-validator';
import {
  ALERT_CHANNEL_TYPES,
  ALERT_SEVERITIES,
  ALERT_STATES,
  type AlertChannelType,
  type AlertQuery,
  type AlertSeverity,
  type AlertState,
  type CreateAlertChannelRequest,
  type EmailChannelConfig,
  type SmtpSecurity,
  type UpdateAlertChannelRequest,
  type WebhookChannelConfig,
  type WebhookFormat,
  WEBHOOK_FORMATS,
} from '@rsynchub/contracts';

export class WebhookConfigBody implements WebhookChannelConfig {
  @ApiProperty({ example: 'https://hooks.example.com/rsynchub', description: 'http:// or https:// only' })
  @IsString()
  @Length(1, 2000)
  url!: string;

  @ApiProperty({ enum: WEBHOOK_FORMATS, description: 'json: documented RsyncHub payload; slack: {"text"}; ntfy: text body with Title/Priority/Tags headers' })
  @IsIn(WEBHOOK_FORMATS as string[])
  format!: WebhookFormat;
}

/** On update the URL may be left out (or sent back redacted, as the API shows it) to keep the stored one. */
export class WebhookUpdateBody {
  @ApiPropertyOptional({ description: 'Omit (or send the redacted form the API returned) to keep the stored URL' })
  @IsOptional()
  @IsString()
  @Length(1, 2000)
  url?: string;

  @ApiProperty({ enum: WEBHOOK_FORMATS })
  @IsIn(WEBHOOK_FORMATS as string[])
  format!: WebhookFormat;
}

export class EmailConfigBody implements EmailChannelConfig {
  @ApiProperty({ example: 'smtp.example.com' }) @IsString() @Length(1, 253) host!: string;
  @ApiProperty({ example: 587 }) @IsInt() @Min(1) @Max(65535) port!: number;
  @ApiProperty({ enum: ['tls', 'starttls', 'none'] }) @IsIn(['tls', 'starttls', 'none']) security!: SmtpSecurity;
  @ApiPropertyOptional({ nullable: true, type: String }) @IsOptional() @IsString() @Length(0, 254) username!: string | null;
  @ApiPropertyOptional({ writeOnly: true, description: 'Write only, stored encrypted. Omit on update to keep the stored one; "" removes it.' })
  @IsOptional()
  @IsString()
  @Length(0, 1024)
  password?: string;
  @ApiProperty({ example: 'rsynchub@example.com' }) @IsString() @Length(3, 254) from!: string;
  @ApiProperty({ example: ['ops@example.com'] }) @IsArray() @ArrayMaxSize(20) @IsString({ each: true }) to!: string[];
}

export class CreateAlertChannelBody implements CreateAlertChannelRequest {
  @ApiProperty({ example: 'ops webhook' }) @IsString() @Length(1, 64) name!: string;
  @ApiProperty({ enum: ALERT_CHANNEL_TYPES }) @IsIn(ALERT_CHANNEL_TYPES as string[]) type!: AlertChannelType;
  @ApiPropertyOptional({ default: true }) @IsOptional() @IsBoolean() enabled?: boolean;
  @ApiPropertyOptional({ enum: ALERT_SEVERITIES, default: 'warning' }) @IsOptional() @IsIn(ALERT_SEVERITIES as string[]) minSeverity?: AlertSeverity;
  @ApiPropertyOptional({ default: true }) @IsOptional() @IsBoolean() sendResolved?: boolean;
  @ApiPropertyOptional({ type: WebhookConfigBody }) @IsOptional() @ValidateNested() @Type(() => WebhookConfigBody) webhook?: WebhookConfigBody;
  @ApiPropertyOptional({ type: EmailConfigBody }) @IsOptional() @ValidateNested() @Type(() => EmailConfigBody) email?: EmailConfigBody;
}

export class UpdateAlertChannelBody implements UpdateAlertChannelRequest {
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 64) name?: string;
  @ApiPropertyOptional() @IsOptional() @IsBoolean() enabled?: boolean;
  @ApiPropertyOptional({ enum: ALERT_SEVERITIES }) @IsOptional() @IsIn(ALERT_SEVERITIES as string[]) minSeverity?: AlertSeverity;
  @ApiPropertyOptional() @IsOptional() @IsBoolean() sendResolved?: boolean;
  @ApiPropertyOptional({ type: WebhookUpdateBody }) @IsOptional() @ValidateNested() @Type(() => WebhookUpdateBody) webhook?: WebhookUpdateBody;
  @ApiPropertyOptional({ type: EmailConfigBody }) @IsOptional() @ValidateNested() @Type(() => EmailConfigBody) email?: EmailConfigBody;
}

export class AlertQueryDto implements AlertQuery {
  @ApiPropertyOptional({ enum: ALERT_STATES }) @IsOptional() @IsIn(ALERT_STATES as string[]) state?: AlertState;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 64) rule?: string;
  @ApiPropertyOptional({ description: '"true": only alerts nobody acknowledged' }) @IsOptional() @IsIn(['true', 'false']) unacknowledged?: string;
  @ApiPropertyOptional({ description: 'from a previous page’s nextCursor' }) @IsOptional() @IsString() @Length(0, 200) cursor?: string;
  @ApiPropertyOptional({ description: 'page size, 1 to 500' }) @IsOptional() @IsString() @Length(0, 10) limit?: number;
}
