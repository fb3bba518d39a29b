import { Body, ConflictException, Controller, ForbiddenException, Get, HttpCode, Inject, Injectable, Module, Post, Query, Req } from '@nestjs/common';
import { ApiProperty, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsInt, IsISO8601, IsOptional, IsString, Length, Matches, Max, Min, ValidateNested } from 'class-validator';
import type { Request } from 'express';
import { DataSource } from 'typeorm';
import type { SourceDto, SourceHeartbeatRequest, SourceTargetStatus } from '@rsynchub/contracts';
import { AllowSourceToken, CurrentPrincipal } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { DbWriteQueue } from '../database/db-write-queue';
import { LiveEventsHub } from '../events/live-events.hub';
import { lagSeconds, sourceState } from './source-state';

/** Queue lengths and lags beyond this are not real (lag: ~31 years in ms); it keeps sums finite. */
const MAX_COUNT = 1e12;
const NO_CONTROL_CHARS = /^[^\x00-\x1f\x7f]*$/;
/** Distinct source names kept; a new name beyond this is refused, so a leaked source token cannot flood the table. */
export const MAX_SOURCES = 10_000;

class SourceTargetBody implements SourceTargetStatus {
  @ApiProperty() @IsString() @Length(1, 255) host!: string;
  @ApiProperty() @IsInt() @Min(1) @Max(65535) port!: number;
  @ApiProperty() @IsString() @Length(1, 64) module!: string;
  @ApiProperty() @IsInt() @Min(0) @Max(MAX_COUNT) queueLength!: number;
  @ApiProperty({ nullable: true, type: Number }) @IsOptional() @IsInt() @Min(0) @Max(MAX_COUNT) lagMs!: number | null;
  @ApiProperty({ nullable: true, type: String }) @IsOptional() @IsISO8601({ strict: true }) lastSuccessAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) @IsOptional() @IsString() @Length(0, 2000) lastError!: string | null;
  @ApiProperty({ required: false }) @IsOptional() @IsBoolean() paused?: boolean;
  @ApiProperty({ required: false, nullable: true, type: String }) @IsOptional() @IsString() @Length(0, 2000) pauseReason?: string | null;
  @ApiProperty({ required: false }) @IsOptional() @IsInt() @Min(0) missedByWatcher?: number;
  @ApiProperty({ required: false, type: [String] })
  @IsOptional() @IsArray() @ArrayMaxSize(20) @IsString({ each: true }) @Length(0, 4096, { each: true }) lastMissedPaths?: string[];
}

class HeartbeatBody implements SourceHeartbeatRequest {
  @ApiProperty() @IsString() @Length(1, 128) @Matches(NO_CONTROL_CHARS, { message: 'name must not contain control characters' }) name!: string;
  @ApiProperty() @IsString() @Length(1, 255) @Matches(NO_CONTROL_CHARS, { message: 'hostname must not contain control characters' }) hostname!: string;
  @ApiProperty() @IsString() @Length(1, 64) @Matches(NO_CONTROL_CHARS, { message: 'version must not contain control characters' }) version!: string;
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
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Seconds without a heartbeat before a source is `stale` (offline after 10x). */
  get staleAfterSeconds(): number {
    return this.config.sourceStaleSeconds;
  }

  /**
   * Records a heartbeat. A `source` token bound to a name may only report as that name, so one compromised source
   * host cannot overwrite (or fake the health of) another.
   */
  async heartbeat(body: SourceHeartbeatRequest, clientIp: string | null, principal?: Principal): Promise<SourceDto> {
    if (principal?.scope === 'source' && principal.sourceName && principal.sourceName.toLowerCase() !== body.name.toLowerCase()) {
      throw new ForbiddenException(`this token may only send heartbeats as source "${principal.sourceName}"`);
    }
    const row: SourceRow = {
      name: body.name,
      hostname: body.hostname,
      version: body.version,
      targets_json: JSON.stringify(body.targets.map((t) => ({
        host: t.host, port: t.port, module: t.module, queueLength: t.queueLength,
        lagMs: t.lagMs ?? null, lastSuccessAt: t.lastSuccessAt ?? null, lastError: t.lastError ?? null,
        // A target the agent paused (its delete guard) replicates nothing: kept for the page and the source alert rule.
        paused: t.paused === true, pauseReason: t.paused === true ? (t.pauseReason ?? null) : null,
        missedByWatcher: t.missedByWatcher ?? 0, lastMissedPaths: t.lastMissedPaths ?? [],
      }))),
      client_ip: clientIp,
      last_seen_at: new Date().toISOString(),
    };
    await this.writes.run(async (em) => {
      const known = await em.query(`SELECT 1 FROM sources WHERE name = ?`, [row.name]);
      if (known.length === 0) {
        const [{ n }] = await em.query(`SELECT COUNT(*) AS n FROM sources`);
        if (n >= MAX_SOURCES) throw new ConflictException(`too many sources (${MAX_SOURCES}); this server refuses new source names`);
      }
      await em.query(
        `INSERT INTO sources (name, hostname, version, targets_json, client_ip, last_seen_at) VALUES (?,?,?,?,?,?)
         ON CONFLICT(name) DO UPDATE SET hostname = excluded.hostname, version = excluded.version, targets_json = excluded.targets_json,
           client_ip = excluded.client_ip, last_seen_at = excluded.last_seen_at`,
        [row.name, row.hostname, row.version, row.targets_json, row.client_ip, row.last_seen_at],
      );
    });
    const dto = this.toDto(row, new Date());
    this.hub.publish('source.heartbeat', dto);
    return dto;
  }

  /** Every source that ever reported, most recently seen first, with its state as of `now`. */
  async list(now: Date = new Date()): Promise<SourceDto[]> {
    const rows: SourceRow[] = await this.dataSource.query(`SELECT * FROM sources ORDER BY last_seen_at DESC`);
    return rows.map((r) => this.toDto(r, now));
  }

  /** The sources that push into `module` (a target naming it), with their targets narrowed to that module. */
  async forModule(module: string, now: Date = new Date()): Promise<SourceDto[]> {
    const key = module.toLowerCase();
    return (await this.list(now))
      .filter((s) => s.modules.some((m) => m.toLowerCase() === key))
      .map((s) => {
        const targets = s.targets.filter((t) => t.module.toLowerCase() === key);
        return { ...s, targets, ...totals(targets) };
      });
  }

  private toDto(r: SourceRow, now: Date): SourceDto {
    const raw = JSON.parse(r.targets_json) as SourceTargetStatus[];
    const targets = raw.map((t) => ({ ...t, lagMs: t.lagMs ?? null, lagSeconds: lagSeconds(t.lagMs ?? null) }));
    return {
      name: r.name,
      hostname: r.hostname,
      version: r.version,
      targets,
      clientIp: r.client_ip,
      lastSeenAt: r.last_seen_at,
      state: sourceState(r.last_seen_at, now, this.config.sourceStaleSeconds),
      secondsSinceSeen: Math.max(0, Math.floor((now.getTime() - Date.parse(r.last_seen_at)) / 1000)),
      staleAfterSeconds: this.config.sourceStaleSeconds,
      modules: [...new Set(targets.map((t) => t.module))],
      ...totals(targets),
    };
  }
}

function totals(targets: SourceDto['targets']): Pick<SourceDto, 'queueTotal' | 'maxLagSeconds'> {
  const lags = targets.map((t) => t.lagSeconds).filter((l): l is number => l !== null);
  return { queueTotal: targets.reduce((n, t) => n + t.queueLength, 0), maxLagSeconds: lags.length ? Math.max(...lags) : null };
}

@ApiTags('sources')
@Controller('sources')
export class SourcesController {
  constructor(private readonly sources: SourcesService) {}

  /** All sources, or (`?module=NAME`) those pushing into one module. */
  @Get()
  list(@Query('module') module?: string): Promise<SourceDto[]> {
    return typeof module === 'string' && module !== '' ? this.sources.forModule(module) : this.sources.list();
  }

  @Post('heartbeat')
  @AllowSourceToken()
  @HttpCode(200)
  heartbeat(@Body() body: HeartbeatBody, @Req() req: Request, @CurrentPrincipal() principal: Principal): Promise<SourceDto> {
    return this.sources.heartbeat(body, req.ip ?? null, principal);
  }
}

/** Exports SourcesService so other domains (alert rules) read sources through its public methods. */
@Module({ controllers: [SourcesController], providers: [SourcesService], exports: [SourcesService] })
export class SourcesModule {}
