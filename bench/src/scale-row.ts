/** One row of the scale benchmark's table (issue 10): what was measured, the number, the target, and whether it met it. */
export interface ScaleRow {
  what: string;
  measured: string;
  target: string;
  /** undefined: a measurement with no pass/fail target (e.g. "measure and document"). */
  met?: boolean;
}
