import { Body, Controller, Get, HttpCode, Injectable, Module, Post, Req } from '@nestjs/common';
import { ApiProperty, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsInt, IsOptional, IsString, Length, Max, Min, ValidateNested } from 'class-validator';
import type { Request } from 'express';
import { DataSource } from 'typeorm';
import type { SourceDto, SourceHeartbeatRequest, SourceTargetStatus } from '@rsynchub/contracts';
import { DbWriteQueue } from '../database/db-write-queue';
import { LiveEventsHub } from '../events/live-events.hub';

class SourceTargetBody implements SourceTargetStatus {
  @ApiProperty() @IsString() @Length(1, 255) host!: string;
  @ApiProperty() @IsInt() @Min(1) @Max(65535) port!: number;
  @ApiProperty() @IsString() @Length(1, 64) module!: string;
  @ApiProperty() @IsInt() @Min(0) queueLength!: number;
  @ApiProperty({ nullable: true, type: Number }) @IsOptional() @IsInt() lagMs!: number | null;
  @ApiProperty({ nullable: true, type: String }) @IsOptional() @IsString() lastSuccessAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) @IsOptional() @IsString() @Length(0, 2000) lastError!: string | null;
  @ApiProperty({ required: false }) @IsOptional() @IsBoolean() paused?: boolean;
  @ApiProperty({ required: false, nullable: true, type: String }) @IsOptional() @IsString() @Length(0, 2000) pauseReason?: string | null;
  @ApiProperty({ required: false }) @IsOptional() @IsInt() @Min(0) missedByWatcher?: number;
  @ApiProperty({ required: false, type: [String] })
  @IsOptional() @IsArray() @ArrayMaxSize(20) @IsString({ each: true }) @Length(0, 4096, { each: true }) lastMissedPaths?: string[];
}

class HeartbeatBody implements SourceHeartbeatRequest {
  @ApiProperty() @IsString() @Length(1, 128) name!: string;
  @ApiProperty() @IsString() @Length(1, 255) hostname!: string;
  @ApiProperty() @IsString() @Length(1, 64) version!: string;
  @ApiProperty({ type: [SourceTargetBody] })
  @IsArray() @ArrayMaxSize(100) @ValidateNested({ each: true }) @Type(() => SourceTargetBody)
  targets!: SourceTargetBody[];
}

interface SourceRow {
  name: string;
  hostname: string;
  version: string;
  targets_json: string;
  client_ip: string | null;
  last_seen_at: string;
}

/** Source agents report their queues and lag here, so the console can show who replicates into this server. */
@Injectable()
export class SourcesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly writes: DbWriteQueue,
    private readonly hub: LiveEventsHub,
  ) {}

  async heartbeat(body: SourceHeartbeatRequest, clientIp: string | null): Promise<SourceDto> {
    const dto: SourceDto = { ...body, targets: body.targets, clientIp, lastSeenAt: new Date().toISOString() };
    await this.writes.run((em) =>
      em.query(
        `INSERT INTO sources (name, hostname, version, targets_json, client_ip, last_seen_at) VALUES (?,?,?,?,?,?)
         ON CONFLICT(name) DO UPDATE SET hostname = excluded.hostname, version = excluded.version, targets_json = excluded.targets_json,
           client_ip = excluded.client_ip, last_seen_at = excluded.last_seen_at`,
        [dto.name, dto.hostname, dto.version, JSON.stringify(dto.targets), clientIp, dto.lastSeenAt],
      ),
    );
    this.hub.publish('source.heartbeat', dto);
    return dto;
  }

  async list(): Promise<SourceDto[]> {
    const rows: SourceRow[] = await this.dataSource.query(`SELECT * FROM sources ORDER BY last_seen_at DESC`);
    return rows.map((r) => ({
      name: r.name,
      hostname: r.hostname,
      version: r.version,
      targets: JSON.parse(r.targets_json),
      clientIp: r.client_ip,
      lastSeenAt: r.last_seen_at,
    }));
  }
}

@ApiTags('sources')
@Controller('sources')
export class SourcesController {
  constructor(private readonly sources: SourcesService) {}

  @Get()
  list(): Promise<SourceDto[]> {
    return this.sources.list();
  }

  @Post('heartbeat')
  @HttpCode(200)
  heartbeat(@Body() body: HeartbeatBody, @Req() req: Request): Promise<SourceDto> {
    return this.sources.heartbeat(body, req.ip ?? null);
  }
}

@Module({ controllers: [SourcesController], providers: [SourcesService] })
export class SourcesModule {}
