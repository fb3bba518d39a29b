import { ConflictException, Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import * as net from 'node:net';
import * as os from 'node:os';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';
import type { DaemonSettingsDto, DaemonSettingsViewDto, UpdateDaemonSettingsRequest } from '@rsynchub/contracts';
import { validateDaemonSettings } from '@rsynchub/rsyncd';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { assertValid, ValidationFailed } from '../common/errors';
import { DaemonSettingsEntity } from './daemon-settings.entity';
import { RsyncdConfigWriter } from './rsyncd-config-writer';
import { firstNonLoopbackAddress, publicHostProblem } from './public-host';

function toDto(e: DaemonSettingsEntity): DaemonSettingsDto {
  return {
    port: e.port,
    address: e.address,
    motd: e.motd,
    maxConnections: e.maxConnections,
    timeout: e.timeout,
    reverseLookup: e.reverseLookup,
    hostsAllow: e.hostsAllow,
    hostsDeny: e.hostsDeny,
    publicHost: e.publicHost ?? '',
  };
}

@Injectable()
export class DaemonSettingsService implements OnModuleInit {
  private readonly logger = new Logger(DaemonSettingsService.name);

  constructor(
    @InjectRepository(DaemonSettingsEntity) private readonly repo: Repository<DaemonSettingsEntity>,
    private readonly writer: RsyncdConfigWriter,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    this.writer.registerSource('settings', (em) => this.load(em));
    const existing = await this.repo.findOneBy({ id: 1 });
    if (!existing) {
      await this.repo.insert({
        id: 1,
        port: this.config.rsyncPort,
        address: this.config.rsyncAddress,
        motd: '',
        maxConnections: 0,
        timeout: 0,
        reverseLookup: false,
        hostsAllow: [],
        hostsDeny: [],
        publicHost: '',
        updatedAt: new Date(),
      });
      return;
    }
    // An explicitly set environment variable wins over the stored value, so a sysadmin's unit file is obeyed.
    const patch: Partial<DaemonSettingsEntity> = {};
    if (process.env.RSYNCHUB_RSYNC_PORT && existing.port !== this.config.rsyncPort) patch.port = this.config.rsyncPort;
    if (process.env.RSYNCHUB_RSYNC_ADDRESS && existing.address !== this.config.rsyncAddress) patch.address = this.config.rsyncAddress;
    if (Object.keys(patch).length > 0) {
      this.logger.log(`daemon ${Object.keys(patch).join(' and ')} taken from the environment`);
      await this.repo.update({ id: 1 }, { ...patch, updatedAt: new Date() });
    }
  }

  async load(em: EntityManager = this.repo.manager): Promise<DaemonSettingsDto> {
    const row = await em.getRepository(DaemonSettingsEntity).findOneByOrFail({ id: 1 });
    return toDto(row);
  }

  /** Fields an environment variable sets: the variable wins at every start, so the API must not pretend to change them. */
  pinnedByEnvironment(): DaemonSettingsViewDto['pinnedByEnvironment'] {
    const pinned: DaemonSettingsViewDto['pinnedByEnvironment'] = {};
    if (process.env.RSYNCHUB_RSYNC_PORT) pinned.port = 'RSYNCHUB_RSYNC_PORT';
    if (process.env.RSYNCHUB_RSYNC_ADDRESS) pinned.address = 'RSYNCHUB_RSYNC_ADDRESS';
    return pinned;
  }

  async view(): Promise<DaemonSettingsViewDto> {
    const s = await this.load();
    return { ...s, publicHostEffective: this.effectivePublicHost(s.publicHost ?? ''), pinnedByEnvironment: this.pinnedByEnvironment() };
  }

  /** The settings plus `publicHostEffective`: the host every connect snippet should use. */
  async loadWithPublicHost(): Promise<DaemonSettingsDto> {
    const s = await this.load();
    return { ...s, publicHostEffective: this.effectivePublicHost(s.publicHost ?? '') };
  }

  /**
   * `publicHost` when set; else the daemon's bind address when that is one specific non-loopback address (the only
   * one it answers on); else the first non-loopback address of this machine (loopback only as a last resort).
   */
  effectivePublicHost(publicHost: string): string {
    if (publicHost) return publicHost;
    const bind = this.config.rsyncAddress;
    if (bind !== '0.0.0.0' && bind !== '::' && !bind.startsWith('127.') && bind !== '::1') return bind;
    const auto = firstNonLoopbackAddress(os.networkInterfaces());
    if (auto) return auto;
    const bound = this.config.rsyncAddress;
    return bound !== '0.0.0.0' && bound !== '::' ? bound : '127.0.0.1';
  }

  async update(patch: UpdateDaemonSettingsRequest): Promise<{ before: DaemonSettingsDto; after: DaemonSettingsDto }> {
    if (patch.publicHost !== undefined) {
      const problem = typeof patch.publicHost === 'string' ? publicHostProblem(patch.publicHost) : 'must be a string (empty for automatic)';
      if (problem) throw new ValidationFailed([{ field: 'publicHost', message: problem }]);
    }
    const current = await this.load();
    const next = { ...current, ...patch };
    assertValid(validateDaemonSettings(next));
    const pinned = this.pinnedByEnvironment();
    for (const field of ['port', 'address'] as const) {
      const variable = pinned[field];
      if (variable && patch[field] !== undefined && patch[field] !== current[field]) {
        throw new ConflictException(`${field} is set by the environment variable ${variable}; change it there and restart RsyncHub`);
      }
    }
    if (next.port !== current.port || next.address !== current.address) {
      // Before anything changes: a socket the daemon could not bind would take it down after a 200.
      const field = patch.port !== undefined && patch.port !== current.port ? 'port' : 'address';
      const problem = await canBindForDaemon(current, next);
      if (problem) throw new ValidationFailed([{ field, message: problem }]);
    }
    return this.writer.change(async (em) => {
      const before = await this.load(em);
      const after: DaemonSettingsDto = { ...before, ...patch };
      assertValid(validateDaemonSettings(after));
      await em.getRepository(DaemonSettingsEntity).update({ id: 1 }, { ...after, updatedAt: new Date() });
      return { before, after };
    });
  }
}

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/**
 * Whether the daemon could listen on `next` after a change from `current`. Only the address changing while the
 * port stays: our own daemon holds that port, and a wildcard bind (or a bind under one) overlaps it, so binding the
 * new address on the port would fail because of ourselves. Then the address alone is checked (on any free port):
 * it must be an address of this machine.
 */
export async function canBindForDaemon(current: { address: string; port: number }, next: { address: string; port: number }): Promise<string | null> {
  const problem = await canBind(next.address, next.port);
  if (problem === null || next.port !== current.port) return problem;
  const overlapsOurOwn = isWildcard(current.address) || isWildcard(next.address) || current.address === next.address;
  if (!problem.includes('already in use') || !overlapsOurOwn) return problem;
  const addressProblem = await canBind(next.address, 0);
  return addressProblem;
}

/** Null when `address:port` can be bound now, else why not (in use, or a privileged port without root). */
export function canBind(address: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(`port ${port} on ${address} is already in use by another program`);
      else if (err.code === 'EACCES') resolve(`port ${port} needs root (ports below 1024 are privileged)`);
      else if (err.code === 'EADDRNOTAVAIL') resolve(`${address} is not an address of this machine`);
      else resolve(`cannot listen on ${address}:${port}: ${err.message}`);
    });
    server.listen({ host: address, port, exclusive: true }, () => server.close(() => resolve(null)));
  });
}
