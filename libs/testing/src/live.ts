import WebSocket from 'ws';
import type { LiveMessage } from '@rsynchub/contracts';

/** A WebSocket client of `/api/v1/events` that records every message. */
export class LiveClient {
  readonly messages: LiveMessage<any>[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (raw) => this.messages.push(JSON.parse(raw.toString())));
  }

  /** `query`, e.g. `?lastEventId=123`, is appended to the stream's URL. */
  static connect(baseUrl: string, headers: Record<string, string>, query = ''): Promise<LiveClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(baseUrl.replace(/^http/, 'ws') + '/api/v1/events' + query, { headers });
      const client = new LiveClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { statusCode: res.statusCode })));
      ws.once('error', reject);
    });
  }

  /**
   * Resolves on the first message from now on that matches (event-driven: no polling delay, for latency measurements).
   * The default deadline is that of `waitFor`: on a loaded CI machine an event can take well over 5 s to arrive.
   */
  next(match: (m: LiveMessage<any>) => boolean, timeoutMs = 30_000): Promise<LiveMessage<any>> {
    return new Promise((resolve, reject) => {
      const onMessage = (raw: WebSocket.RawData) => {
        const m = JSON.parse(raw.toString()) as LiveMessage<any>;
        if (!match(m)) return;
        clearTimeout(timer);
        this.ws.off('message', onMessage);
        resolve(m);
      };
      const timer = setTimeout(() => {
        this.ws.off('message', onMessage);
        reject(new Error('timed out waiting for a live message'));
      }, timeoutMs);
      this.ws.on('message', onMessage);
    });
  }

  send(msg: unknown): void {
    this.ws.send(JSON.stringify(msg));
  }

  close(): void {
    this.ws.close();
  }
}
