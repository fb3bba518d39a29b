import { Component, DestroyRef, OnInit, computed, inject, signal } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { RouterLink } from '@angular/router';
import { MatButtonModule } from '@angular/material/button';
import { BaseChartDirective, provideCharts } from 'ng2-charts';
import { CategoryScale, Filler, Legend, LineController, LineElement, LinearScale, PointElement, Tooltip } from 'chart.js';
import type { ChartConfiguration } from 'chart.js';
import type { DaemonStatusDto, FileEventDto, SourceDto, StatsDto, TransferSessionDto } from '@rsynchub/contracts';
import { ApiService } from '../../core/api.service';
import { AuthService } from '../../core/auth.service';
import { LiveEventsService } from '../../core/live-events.service';
import type { ApiError } from '../../core/api-error';
import { formatBytes, formatCount, formatDuration, formatRate, formatTime } from '../../core/format';
import { ErrorBannerComponent } from '../../shared/error-banner.component';
import { bucketsFrom, pruneBuckets, throughputSeries, throughputSummary, type BucketMap } from './throughput';

/**
 * A session in the live feed. Its counts and bytes are the server's (snapshots in session.started/progress/ended,
 * replaced, never added to); `files` are only the newest names, for show.
 */
export interface FeedSession {
  session: TransferSessionDto;
  files: FileEventDto[];
}

/** Bytes per second of a session: so far while it runs, over its whole run once ended. Null before any byte. */
export function sessionRate(s: TransferSessionDto, nowMs: number): number | null {
  const bytes = s.bytesReceived + s.bytesSent;
  if (bytes <= 0) return null;
  const end = s.endedAt ? Date.parse(s.endedAt) : nowMs;
  const seconds = Math.max(1, (end - Date.parse(s.startedAt)) / 1000);
  return Number.isFinite(seconds) ? bytes / seconds : null;
}

const FEED_SESSIONS = 15;
const FEED_FILES = 6;
const PALETTE = ['#0b57d0', '#e8710a', '#188038', '#a142f4', '#d93025', '#12b5cb', '#f9ab00', '#5f6368'];

@Component({
  selector: 'rh-dashboard-page',
  imports: [RouterLink, MatButtonModule, BaseChartDirective, ErrorBannerComponent],
  templateUrl: './dashboard.page.html',
  styleUrl: './dashboard.page.css',
  // Registered here, not app-wide, so Chart.js stays in this lazy chunk.
  providers: [provideCharts({ registerables: [LineController, LineElement, PointElement, LinearScale, CategoryScale, Legend, Tooltip, Filler] })],
})
export class DashboardPage implements OnInit {
  private readonly api = inject(ApiService);
  private readonly destroyRef = inject(DestroyRef);
  readonly live = inject(LiveEventsService);
  readonly auth = inject(AuthService);
  readonly daemonStatus = signal<DaemonStatusDto | null>(null);
  /** When daemonStatus was current, to let the uptime run on. */
  private readonly daemonAt = signal(Date.now());
  /** What the server said, while the live stream says the server is there; else nothing is known. */
  readonly daemon = computed<DaemonStatusDto | null>(() => (this.live.state() === 'open' ? this.daemonStatus() : null));
  readonly daemonState = computed(() => (this.live.state() === 'open' ? (this.daemonStatus()?.state ?? '…') : 'unknown'));
  readonly daemonUptime = computed(() => {
    const d = this.daemon();
    if (!d || d.uptimeSeconds === null) return null;
    return d.uptimeSeconds + Math.max(0, this.clock() - this.daemonAt()) / 1000;
  });
  readonly daemonError = signal<ApiError | null>(null);
  readonly daemonBusy = signal(false);
  readonly stats = signal<StatsDto | null>(null);
  readonly statsError = signal<string | null>(null);
  /** Until the first figures (or an error) arrive: skeletons, not dashes or "no transfers". */
  readonly statsLoading = computed(() => this.stats() === null && this.statsError() === null);
  /** The recent sessions arrived (or could not be read): until then skeletons, not "No sessions yet". */
  readonly feedLoaded = signal(false);
  readonly sources = signal<SourceDto[] | null>(null);
  readonly feed = signal<FeedSession[]>([]);
  private readonly buckets = signal<BucketMap>(new Map(), { equal: () => false });
  private readonly now = signal(Date.now());
  /** Ticks every second: uptime and rates of running sessions move on between events. */
  readonly clock = signal(Date.now());
  readonly fmtBytes = formatBytes;
  readonly fmtCount = formatCount;
  readonly fmtRate = formatRate;
  readonly fmtDuration = formatDuration;
  readonly fmtTime = formatTime;
  readonly rate = sessionRate;

  readonly chartData = computed<ChartConfiguration<'line'>['data']>(() => {
    const s = throughputSeries(this.buckets(), this.now());
    const datasets: ChartConfiguration<'line'>['data']['datasets'] = [];
    s.modules.forEach((m, i) => {
      const color = PALETTE[i % PALETTE.length];
      datasets.push({ label: `${m.module} bytes/s`, data: m.bytesPerSecond, yAxisID: 'y', borderColor: color, backgroundColor: color, pointRadius: 0, tension: 0.25, borderWidth: 2 });
      datasets.push({ label: `${m.module} files/s`, data: m.filesPerSecond, yAxisID: 'y1', borderColor: color, backgroundColor: color, pointRadius: 0, tension: 0.25, borderWidth: 1, borderDash: [4, 4] });
    });
    return { labels: s.labels, datasets };
  });
  readonly chartEmpty = computed(() => this.chartData().datasets.length === 0);
  /** The chart's text alternative. */
  readonly chartSummary = computed(() => throughputSummary(throughputSeries(this.buckets(), this.now())));
  readonly fmtFilesRate = (n: number) => (n >= 10 ? formatCount(Math.round(n)) : n.toLocaleString(undefined, { maximumFractionDigits: 2 }));

  readonly chartOptions: ChartConfiguration<'line'>['options'] = {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    interaction: { mode: 'index', intersect: false },
    scales: {
      x: { ticks: { maxTicksLimit: 8 } },
      y: { beginAtZero: true, position: 'left', title: { display: true, text: 'bytes/s' }, ticks: { callback: (v) => formatBytes(Number(v)) } },
      y1: { beginAtZero: true, position: 'right', title: { display: true, text: 'files/s' }, grid: { drawOnChartArea: false } },
    },
    plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
  };

  /** session id -> module, to attribute live file events to a module in the chart. */
  private readonly sessionModules = new Map<number, string>();

  ngOnInit(): void {
    void this.loadDaemon();
    void this.loadStats();
    void this.loadRecent();
    void this.api.sources().then((s) => this.sources.set(s), () => this.sources.set(null));
    this.live.subscribe({});
    // After a reconnect or a resync, everything shown may be stale (the server may even have restarted).
    this.live.refetch$.pipe(takeUntilDestroyed(this.destroyRef)).subscribe(() => this.reloadAll());
    this.live.messages$.pipe(takeUntilDestroyed(this.destroyRef)).subscribe((msg) => {
      switch (msg.type) {
        case 'session.started':
        case 'session.progress':
        case 'session.ended':
        case 'auth.failed':
          this.upsertSession(msg.data as TransferSessionDto);
          // Sessions today, active sessions, bytes and the chart come from the server's figures.
          this.scheduleStatsRefresh();
          break;
        case 'session.file':
          this.addFiles(msg.data as FileEventDto[]);
          break;
        case 'daemon.status':
          this.setDaemon(msg.data as DaemonStatusDto);
          break;
        case 'source.heartbeat': {
          const src = msg.data as SourceDto;
          this.sources.update((list) => [src, ...(list ?? []).filter((s) => s.name !== src.name)]);
          break;
        }
      }
    });
    const tick = setInterval(() => {
      this.now.set(Date.now());
      pruneBuckets(this.buckets(), Date.now());
    }, 30_000);
    const refresh = setInterval(() => void this.loadStats(), 60_000);
    const second = setInterval(() => this.clock.set(Date.now()), 1000);
    this.destroyRef.onDestroy(() => {
      clearInterval(tick);
      clearInterval(refresh);
      clearInterval(second);
      if (this.statsTimer) clearTimeout(this.statsTimer);
    });
  }

  private reloadAll(): void {
    void this.loadDaemon();
    void this.loadStats();
    void this.loadRecent(true);
    void this.api.sources().then((s) => this.sources.set(s), () => this.sources.set(null));
  }

  private setDaemon(d: DaemonStatusDto): void {
    this.daemonStatus.set(d);
    this.daemonAt.set(Date.now());
  }

  async loadDaemon(): Promise<void> {
    try {
      this.setDaemon(await this.api.daemon());
      this.daemonError.set(null);
    } catch (err) {
      this.daemonError.set(err as ApiError);
    }
  }

  async loadStats(): Promise<void> {
    try {
      const s = await this.api.stats();
      this.stats.set(s);
      this.statsError.set(null);
      this.buckets.set(bucketsFrom(s.series));
      this.now.set(Date.now());
    } catch (err) {
      const e = err as ApiError;
      this.statsError.set(e.status === 404 ? 'Statistics are not available on this server yet.' : e.message);
    }
  }

  /** The newest sessions from history; `refresh` also updates the ones shown (after a reconnect). */
  private async loadRecent(refresh = false): Promise<void> {
    try {
      const page = await this.api.transfers({ limit: 8 });
      for (const s of page.items) if (s.module) this.sessionModules.set(s.id, s.module);
      const fresh = new Map(page.items.map((s) => [s.id, s]));
      this.feed.update((list) => {
        const shown = new Set(list.map((f) => f.session.id));
        const updated = refresh ? list.map((f) => (fresh.has(f.session.id) ? { ...f, session: fresh.get(f.session.id)! } : f)) : list;
        const older = page.items.filter((s) => !shown.has(s.id)).map((s) => ({ session: s, files: [] }));
        return [...updated, ...older].sort((a, b) => b.session.id - a.session.id).slice(0, FEED_SESSIONS);
      });
    } catch {
      /* history not available: the feed fills from live events only */
    } finally {
      this.feedLoaded.set(true);
    }
  }

  private statsTimer: ReturnType<typeof setTimeout> | null = null;
  private scheduleStatsRefresh(): void {
    if (this.statsTimer) return;
    this.statsTimer = setTimeout(() => {
      this.statsTimer = null;
      void this.loadStats();
    }, 400);
  }

  private upsertSession(s: TransferSessionDto): void {
    if (s.module) this.sessionModules.set(s.id, s.module);
    this.feed.update((list) => {
      const i = list.findIndex((f) => f.session.id === s.id);
      if (i >= 0) {
        // A snapshot of a running session never undoes its end (a replay or re-fetch may bring an older one late).
        if (list[i].session.status !== 'active' && s.status === 'active') return list;
        const copy = [...list];
        copy[i] = { ...copy[i], session: s };
        return copy;
      }
      return [{ session: s, files: [] }, ...list].slice(0, FEED_SESSIONS);
    });
  }

  private addFiles(files: FileEventDto[]): void {
    if (!Array.isArray(files) || !files.length) return;
    const bySession = new Map<number, FileEventDto[]>();
    for (const f of files) bySession.set(f.sessionId, [...(bySession.get(f.sessionId) ?? []), f]);
    this.feed.update((list) => {
      let copy = [...list];
      for (const [id, fs] of bySession) {
        const i = copy.findIndex((f) => f.session.id === id);
        if (i >= 0) {
          const known = new Set(copy[i].files.map((f) => f.id));
          const added = fs.filter((f) => !known.has(f.id)).reverse();
          copy[i] = { ...copy[i], files: [...added, ...copy[i].files].slice(0, FEED_FILES) };
        } else {
          // Files before their session.started (or after a reconnect): show them under a placeholder until it arrives.
          const placeholder: TransferSessionDto = {
            id, daemonPid: 0, module: this.sessionModules.get(id) ?? null, user: null, clientIp: '', clientHost: '', direction: null,
            startedAt: fs[0].at, endedAt: null, bytesReceived: 0, bytesSent: 0, totalSize: 0, fileCount: 0, dirCount: 0, deletedCount: 0,
            status: 'active', exitCode: null, error: null,
          };
          copy = [{ session: placeholder, files: fs.slice().reverse().slice(0, FEED_FILES) }, ...copy].slice(0, FEED_SESSIONS);
        }
      }
      return copy;
    });
    // The chart follows the server's per-minute figures (refreshed on session events): they know how long data moved.
  }

  async daemonAction(action: 'start' | 'stop' | 'restart'): Promise<void> {
    this.daemonBusy.set(true);
    this.daemonError.set(null);
    try {
      this.setDaemon(await this.api.daemonAction(action));
    } catch (err) {
      this.daemonError.set(err as ApiError);
    } finally {
      this.daemonBusy.set(false);
    }
  }
}
