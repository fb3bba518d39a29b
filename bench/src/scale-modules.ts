import { type ScaleRow } from './scale-row';

/** Scale rows for the modules area (issue 10). Not measured yet. */
export async function scaleModules(_full: boolean): Promise<ScaleRow[]> {
  return [{ what: 'modules: not measured yet', measured: '-', target: '-', met: false }];
}
