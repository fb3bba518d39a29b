/**
 * `npm run bench -- scale`: every row of issue 10's table, measured vs target, side by side in one run. Each area
 * lives in its own file (transfers history, modules and config, the live stream) and returns rows to print here.
 * The largest sizes are opt-in (`BENCH_SCALE_FULL=1`); the default sizes finish in a few minutes.
 */
import { scaleLive } from './scale-live';
import { scaleModules } from './scale-modules';
import { type ScaleRow } from './scale-row';
import { scaleTransfers } from './scale-transfers';

export async function benchScale(): Promise<void> {
  const full = process.env.BENCH_SCALE_FULL === '1';
  const only = (process.env.BENCH_SCALE_ONLY ?? '').split(',').filter(Boolean);
  const areas: [string, (full: boolean) => Promise<ScaleRow[]>][] = [
    ['transfers', scaleTransfers],
    ['modules', scaleModules],
    ['live', scaleLive],
  ];
  const rows: ScaleRow[] = [];
  for (const [name, run] of areas) {
    if (only.length && !only.includes(name)) continue;
    console.log(`\n== scale: ${name} (${full ? 'full sizes' : 'default sizes; BENCH_SCALE_FULL=1 for the largest'}) ==`);
    const got = await run(full);
    for (const r of got) console.log(formatRow(r));
    rows.push(...got);
  }
  console.log('\n== scale: summary ==');
  for (const r of rows) console.log(formatRow(r));
  const missed = rows.filter((r) => r.met === false);
  console.log(`${rows.length - missed.length} of ${rows.length} rows met their target${missed.length ? `; missed: ${missed.map((r) => r.what).join('; ')}` : ''}`);
}

function formatRow(r: ScaleRow): string {
  const mark = r.met === undefined ? '   ' : r.met ? 'OK ' : 'MISS';
  return `${mark.padEnd(4)} ${r.what.padEnd(58)} measured: ${r.measured.padEnd(44)} target: ${r.target}`;
}
