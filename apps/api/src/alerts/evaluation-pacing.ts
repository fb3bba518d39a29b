/**
 * When the next event-triggered evaluation may start. An evaluation reads every module's free space and the whole
 * module list, so at thousands of modules one takes a second or more of CPU: started once per second after each
 * session that ends (a steady trickle of pushes), they kept a core ~95 % busy. So a triggered evaluation waits for
 * `minGapMs` after the previous start AND long enough after the previous end that evaluating takes at most
 * `maxBusyShare` of the time (a 1 s evaluation: the next one starts >= 4 s after it ended at 0.2).
 */
export function nextTriggeredStart(lastStart: number, lastEnd: number, minGapMs: number, maxBusyShare: number): number {
  const took = Math.max(0, lastEnd - lastStart);
  return Math.max(lastStart + minGapMs, lastEnd + took * (1 / maxBusyShare - 1));
}
