import { Inject, Injectable, Logger, NotFoundException, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import * as net from 'node:net';
import { Subscription } from 'rxjs';
import { EntityManager, MoreThan, Repository } from 'typeorm';
import type { AuditEntryDto, BanDto, BanListDto, BanSettingsDto, TransferSessionDto } from '@rsynchub/contracts';
import { checkBannableAddress } from '@rsynchub/rsyncd';
import { AuditService, NewAuditEntry } from '../audit/audit.service';
import { ValidationFailed } from '../common/errors';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { RsyncdConfigWriter } from '../daemon/rsyncd-config-writer';
import { LiveEventsHub } from '../events/live-events.hub';
import { BanEntity } from './ban.entity';
import { FailureWindow } from './failure-window';
import { OwnProbes } from './own-probes';

/** How often expiries are looked for. A ban ends at most this late. */
const SWEEP_MS = 1_000;

function toDto(e: BanEntity): BanDto {
  return { address: e.address, bannedAt: e.bannedAt, expiresAt: e.expiresAt, failures: e.failures, reason: e.reason };
}

function systemEntry(action: string, address: string, detail: string, after: unknown): NewAuditEntry {
  return { actor: 'rsynchub', actorType: 'system', role: null, action, target: address, clientIp: null, outcome: 'success', detail, before: null, after };
}

/**
 * Bans rsync password guessers: every `auth failed` the log ingestor reports is counted per client address; at
 * `threshold` failures within the window the address is written into every module's `hosts deny` (the daemon reads
 * rsyncd.conf per connection, so the next connection is refused) until the ban expires or an admin lifts it.
 * Bans live in the database (they survive restarts) and reach the files through the config writer, in the same
 * transaction as their audit entry.
 */
@Injectable()
export class BansService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(BansService.name);
  private readonly window: FailureWindow;
  private readonly never = new net.BlockList();
  /** address -> expiry (ms), mirrors the table so the sweeper needs no query. */
  private readonly active = new Map<string, number>();
  /** Addresses that reached the threshold and are about to be written (address -> failures). */
  private readonly toBan = new Map<string, number>();
  private flushing: Promise<void> | null = null;
  private stopped = false;
  private subscription: Subscription | null = null;
  private timer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;

  constructor(
    @InjectRepository(BanEntity) private readonly repo: Repository<BanEntity>,
    private readonly writer: RsyncdConfigWriter,
    private readonly audit: AuditService,
    private readonly hub: LiveEventsHub,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly ownProbes: OwnProbes,
  ) {
    const b = config.bans;
    this.window = new FailureWindow(Math.max(1, b.threshold), b.windowSeconds * 1000);
    for (const entry of b.neverBan) {
      const [addr, prefix] = entry.split('/') as [string, string | undefined];
      const type = net.isIP(addr) === 6 ? 'ipv6' : 'ipv4';
      if (prefix === undefined) this.never.addAddress(addr, type);
      else this.never.addSubnet(addr, Number(prefix), type);
    }
  }

  async onModuleInit(): Promise<void> {
    // Read in the config transaction: only bans in force reach the files (an expired row is dropped at the next write).
    this.writer.registerSource('bans', async (em) => {
      const rows = await em.getRepository(BanEntity).find({ where: { expiresAt: MoreThan(new Date().toISOString()) }, order: { address: 'ASC' } });
      return rows.map((r) => r.address).filter((a) => checkBannableAddress(a) === null);
    });
    for (const row of await this.repo.find()) this.active.set(row.address, Date.parse(row.expiresAt));
    this.subscription = this.hub.events.subscribe((e) => {
      if (e.type !== 'auth.failed') return;
      const session = e.data as TransferSessionDto;
      // The server's own "Test connection" is the admin testing, not someone guessing: it never counts.
      if (this.ownProbes.consume(session.clientIp, session.module, session.user)) return;
      this.onAuthFailed(session.clientIp);
    });
    this.timer = setInterval(() => this.sweep(), SWEEP_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.subscription?.unsubscribe();
    if (this.timer) clearInterval(this.timer);
    await this.sweeping;
    await this.flushing;
  }

  settings(): BanSettingsDto {
    const b = this.config.bans;
    return { threshold: b.threshold, windowSeconds: b.windowSeconds, durationSeconds: b.durationSeconds, neverBan: [...b.neverBan] };
  }

  async list(): Promise<BanListDto> {
    const rows = await this.repo.find({ where: { expiresAt: MoreThan(new Date().toISOString()) }, order: { bannedAt: 'DESC' } });
    return { items: rows.map(toDto), settings: this.settings() };
  }

  /** Lifts a ban now (admin). The audit entry is the request's (written by the audit interceptor). */
  async lift(address: string): Promise<BanDto> {
    const problem = checkBannableAddress(address);
    if (problem) throw new ValidationFailed([{ field: 'address', message: problem }]);
    const lifted = await this.writer.change(async (em) => {
      const row = await em.getRepository(BanEntity).findOneBy({ address });
      if (!row) throw new NotFoundException(`${address} is not banned`);
      await em.getRepository(BanEntity).delete({ address });
      return toDto(row);
    });
    this.active.delete(address);
    this.window.forget(address);
    this.hub.publish('ban.changed', { address, change: 'lifted', ban: lifted });
    return lifted;
  }

  private isExempt(address: string): boolean {
    const type = net.isIP(address);
    if (type === 0) return true;
    return this.never.check(address, type === 6 ? 'ipv6' : 'ipv4');
  }

  /** Addresses come from the daemon's log: anything that is not a plain IP address is ignored, never rendered. */
  private onAuthFailed(address: string): void {
    const b = this.config.bans;
    if (b.threshold === 0 || checkBannableAddress(address) !== null || this.isExempt(address)) return;
    if (this.active.has(address) || this.toBan.has(address)) return;
    const count = this.window.add(address, Date.now());
    if (count < b.threshold) return;
    this.toBan.set(address, count);
    this.flushSoon();
  }

  /**
   * Bans are written in batches: a guessing run from many addresses at once becomes one config change per batch,
   * not one (with its proof by a throwaway daemon) per address.
   */
  private flushSoon(): void {
    if (this.flushing) return;
    this.flushing = this.flush()
      .catch((err: unknown) => this.logger.error(`could not write bans: ${(err as Error).message}`))
      .finally(() => {
        this.flushing = null;
        if (this.toBan.size > 0 && !this.stopped) this.flushSoon();
      });
  }

  private async flush(): Promise<void> {
    const batch = [...this.toBan];
    const b = this.config.bans;
    const now = new Date();
    const rows: BanEntity[] = batch.map(([address, failures]) => ({
      address,
      bannedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + b.durationSeconds * 1000).toISOString(),
      failures,
      reason: `${failures} failed rsync authentications within ${b.windowSeconds} s`,
    }));
    let entries: AuditEntryDto[];
    try {
      entries = await this.writer.change(async (em) => {
        const out: AuditEntryDto[] = [];
        for (const row of rows) {
          await em.getRepository(BanEntity).save(row);
          out.push(await this.audit.insertIn(em, systemEntry('ban.create', row.address, row.reason, toDto(row))));
        }
        return out;
      });
    } finally {
      for (const [address] of batch) this.toBan.delete(address);
    }
    for (const [i, row] of rows.entries()) {
      this.active.set(row.address, Date.parse(row.expiresAt));
      this.window.forget(row.address);
      this.logger.warn(`banned ${row.address} until ${row.expiresAt}: ${row.reason}`);
      this.audit.announce(entries[i]!);
      this.hub.publish('ban.changed', { address: row.address, change: 'banned', ban: toDto(row) });
    }
  }

  private sweep(): void {
    if (this.sweeping) return;
    const now = Date.now();
    const due = [...this.active].filter(([, until]) => until <= now).map(([a]) => a);
    if (due.length === 0) return;
    this.sweeping = this.expire(due)
      .catch((err: unknown) => this.logger.error(`could not end expired bans: ${(err as Error).message}`))
      .finally(() => (this.sweeping = null));
  }

  private async expire(addresses: string[]): Promise<void> {
    const nowIso = new Date().toISOString();
    const done = await this.writer.change(async (em: EntityManager) => {
      const out: { ban: BanDto; entry: AuditEntryDto }[] = [];
      for (const address of addresses) {
        const row = await em.getRepository(BanEntity).findOneBy({ address });
        if (!row || row.expiresAt > nowIso) continue;
        await em.getRepository(BanEntity).delete({ address });
        out.push({ ban: toDto(row), entry: await this.audit.insertIn(em, systemEntry('ban.expire', address, 'ban expired', null)) });
      }
      return out;
    });
    for (const a of addresses) if ((this.active.get(a) ?? Infinity) <= Date.now()) this.active.delete(a);
    for (const { ban, entry } of done) {
      this.audit.announce(entry);
      this.hub.publish('ban.changed', { address: ban.address, change: 'expired', ban });
    }
  }
}
