#!/usr/bin/env node
/** Entry point of the rsynchub-agent CLI. */
import { main } from './cli';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`rsynchub-agent: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
