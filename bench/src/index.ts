/**
 * Benchmarks print numbers; they are not tests. `npm run bench` runs them all; `node bench/dist/index.js NAME...`
 * runs some (ingest, latency, throughput, agent, agent-tls, flood, scale, tls).
 */
import { benchAgent } from './agent';
import { benchAgentTls } from './agent-tls';
import { benchFlood } from './flood';
import { benchIngestion } from './ingest';
import { benchLatency } from './latency';
import { benchScale } from './scale';
import { benchThroughput } from './throughput';
import { benchTls } from './tls';

const all: Record<string, () => Promise<void>> = {
  ingest: () => benchIngestion(Number(process.env.BENCH_LINES ?? 1_000_000)),
  latency: () => benchLatency(Number(process.env.BENCH_ITERATIONS ?? 300)),
  throughput: () => benchThroughput(Number(process.env.BENCH_MB ?? 200), Number(process.env.BENCH_RUNS ?? 40)),
  agent: () => benchAgent(),
  'agent-tls': () => benchAgentTls(),
  scale: () => benchScale(),
  tls: () => benchTls(Number(process.env.BENCH_TLS_MB ?? 200), Number(process.env.BENCH_TLS_RUNS ?? 5)),
  flood: () => benchFlood(Number(process.env.BENCH_FLOOD_ADDRESSES ?? 60), Number(process.env.BENCH_FLOOD_CONNECTIONS ?? 4), Number(process.env.BENCH_FLOOD_SECONDS ?? 20), Number(process.env.BENCH_FLOOD_RATE ?? 1000)),
};

async function main(): Promise<void> {
  const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const chosen = names.length ? names : Object.keys(all);
  for (const name of chosen) {
    const bench = all[name];
    if (!bench) throw new Error(`unknown benchmark "${name}"; choose from ${Object.keys(all).join(', ')}`);
    await bench();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
