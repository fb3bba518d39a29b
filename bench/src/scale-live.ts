import { type ScaleRow } from './scale-row';

/** Scale rows for the live area (issue 10). Not measured yet. */
export async function scaleLive(_full: boolean): Promise<ScaleRow[]> {
  return [{ what: 'live: not measured yet', measured: '-', target: '-', met: false }];
}
