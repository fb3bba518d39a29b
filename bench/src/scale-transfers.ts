import { type ScaleRow } from './scale-row';

/** Scale rows for the transfers area (issue 10). Not measured yet. */
export async function scaleTransfers(_full: boolean): Promise<ScaleRow[]> {
  return [{ what: 'transfers: not measured yet', measured: '-', target: '-', met: false }];
}
