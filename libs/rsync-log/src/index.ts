/**
 * Pure parser for the rsync daemon's log file (`log file = ...`, `transfer logging = yes`,
 * `log format = ` TRANSFER_LOG_FORMAT, daemon started with TZ=UTC). No I/O: the caller reads the file, feeds the
 * bytes to a LogLineSplitter and each line to parseLogLine.
 */
export { TRANSFER_LOG_FORMAT, parseLogLine } from './parse';
export { LogLineSplitter, splitLogLines } from './split';
export type { LogLine, LogLineSplitterOptions } from './split';
export { decodeRsyncEscapes, encodeRsyncEscapes } from './escape';
export type * from './types';
export { SessionTracker, emptyEffects } from './session-tracker';
export type { TrackedSession, TrackedFile, TrackerEffects, SessionStatus } from './session-tracker';
export { entryKind, entryKindSql } from './entry-kind';
export type { EntryKind } from './entry-kind';
