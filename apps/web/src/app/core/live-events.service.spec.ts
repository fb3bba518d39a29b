import { TestBed } from '@angular/core/testing';
import type { LiveMessage } from '@rsynchub/contracts';
import { LiveEventsService, SOCKET_FACTORY, eventsUrl, reconnectDelay, type SocketLike } from './live-events.service';

class FakeSocket implements SocketLike {
  readyState = 0;
  sent: string[] = [];
  closed = false;
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(data);
  }
  close() {
    this.closed = true;
    this.readyState = 3;
  }
  // test helpers: what the server / network would do
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  drop() {
    this.readyState = 3;
    this.onclose?.({ code: 1006, reason: '' });
  }
  receive(msg: unknown) {
    this.onmessage?.({ data: typeof msg === 'string' ? msg : JSON.stringify(msg) });
  }
}

describe('reconnectDelay', () => {
  const policy = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.3 };
  const table: [attempt: number, random: number, expected: number][] = [
    [0, 0, 500],
    [1, 0, 1000],
    [3, 0, 4000],
    [6, 0, 30_000], // 32 s capped at 30 s
    [20, 0, 30_000],
    [0, 1, 350], // full jitter takes 30 % off
    [2, 0.5, 1700],
  ];
  for (const [attempt, random, expected] of table) {
    it(`attempt ${attempt}, random ${random} -> ${expected} ms`, () => expect(reconnectDelay(attempt, policy, () => random)).toBe(expected));
  }
  it('builds ws/wss URLs from the page location', () => {
    expect(eventsUrl({ protocol: 'http:', host: 'hub:3000' })).toBe('ws://hub:3000/api/v1/events');
    expect(eventsUrl({ protocol: 'https:', host: 'hub.example' })).toBe('wss://hub.example/api/v1/events');
  });
});

describe('LiveEventsService', () => {
  let sockets: FakeSocket[];
  let live: LiveEventsService;

  beforeEach(() => {
    vi.useFakeTimers();
    sockets = [];
    TestBed.configureTestingModule({
      providers: [{ provide: SOCKET_FACTORY, useValue: (url: string) => sockets[sockets.push(new FakeSocket(url)) - 1] }],
    });
    live = TestBed.inject(LiveEventsService);
    live.policy = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 };
  });
  afterEach(() => {
    live.disconnect();
    vi.useRealTimers();
  });

  it('delivers parsed messages by type and ignores garbage', () => {
    const got: unknown[] = [];
    live.on('module.changed').subscribe((d) => got.push(d));
    live.connect();
    sockets[0].open();
    expect(live.state()).toBe('open');
    sockets[0].receive('not json');
    sockets[0].receive({ type: 'hello', at: 'x', data: {} } satisfies LiveMessage);
    sockets[0].receive({ type: 'module.changed', at: 'x', data: { name: 'm', change: 'created' } } satisfies LiveMessage);
    expect(got).toEqual([{ name: 'm', change: 'created' }]);
  });

  it('reconnects after a drop with growing delays, then resets after success', () => {
    live.connect();
    expect(sockets.length).toBe(1);
    sockets[0].drop(); // never opened
    expect(live.state()).toBe('reconnecting');
    vi.advanceTimersByTime(99);
    expect(sockets.length).toBe(1);
    vi.advanceTimersByTime(1);
    expect(sockets.length).toBe(2); // after 100 ms
    sockets[1].drop();
    vi.advanceTimersByTime(199);
    expect(sockets.length).toBe(2);
    vi.advanceTimersByTime(1);
    expect(sockets.length).toBe(3); // after 200 ms
    expect(live.attempts()).toBe(2);
    sockets[2].open();
    expect(live.attempts()).toBe(0);
    sockets[2].drop();
    vi.advanceTimersByTime(100);
    expect(sockets.length).toBe(4); // back to the first delay
  });

  it('re-sends the subscription on every (re)connect', () => {
    live.subscribe({ modules: ['web'] });
    live.connect();
    sockets[0].open();
    expect(sockets[0].sent.map((s) => JSON.parse(s))).toEqual([{ type: 'subscribe', modules: ['web'] }]);
    sockets[0].drop();
    vi.advanceTimersByTime(100);
    sockets[1].open();
    expect(sockets[1].sent.map((s) => JSON.parse(s))).toEqual([{ type: 'subscribe', modules: ['web'] }]);
  });

  it('does not reconnect after disconnect()', () => {
    live.connect();
    sockets[0].open();
    live.disconnect();
    expect(sockets[0].closed).toBe(true);
    sockets[0].drop();
    vi.advanceTimersByTime(10_000);
    expect(sockets.length).toBe(1);
    expect(live.state()).toBe('idle');
  });
});

describe('LiveEventsService resume', () => {
  let sockets: FakeSocket[];
  let live: LiveEventsService;

  beforeEach(() => {
    vi.useFakeTimers();
    sockets = [];
    TestBed.configureTestingModule({
      providers: [{ provide: SOCKET_FACTORY, useValue: (url: string) => sockets[sockets.push(new FakeSocket(url)) - 1] }],
    });
    live = TestBed.inject(LiveEventsService);
    live.policy = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 };
    live.url = 'ws://hub/api/v1/events';
  });
  afterEach(() => {
    live.disconnect();
    vi.useRealTimers();
  });

  it('reconnects with the last event id it saw, and asks pages to re-fetch', () => {
    let refetches = 0;
    live.refetch$.subscribe(() => refetches++);
    live.connect();
    expect(sockets[0].url).toBe('ws://hub/api/v1/events');
    sockets[0].open();
    expect(refetches).toBe(0); // the first load is the pages' own
    sockets[0].receive({ type: 'hello', at: 'x', data: { events: [], lastEventId: 41 } });
    sockets[0].receive({ type: 'module.changed', id: 42, at: 'x', data: { name: 'm', change: 'created' } });
    sockets[0].receive({ type: 'session.file', id: 45, at: 'x', data: [] });
    sockets[0].drop();
    vi.advanceTimersByTime(100);
    expect(sockets[1].url).toBe('ws://hub/api/v1/events?lastEventId=45');
    sockets[1].open();
    expect(refetches).toBe(1);
  });

  it('resumes from hello when no event came yet; resync re-fetches and moves the resume point', () => {
    let refetches = 0;
    live.refetch$.subscribe(() => refetches++);
    live.connect();
    sockets[0].open();
    sockets[0].receive({ type: 'hello', at: 'x', data: { events: [], lastEventId: 7 } });
    sockets[0].receive({ type: 'resync', at: 'x', data: { reason: 'gone', lastEventId: 900 } });
    expect(refetches).toBe(1);
    sockets[0].drop();
    vi.advanceTimersByTime(100);
    expect(sockets[1].url).toBe('ws://hub/api/v1/events?lastEventId=900');
  });
});
