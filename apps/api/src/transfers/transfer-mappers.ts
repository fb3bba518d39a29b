import type { FileEventDto, TransferSessionDto } from '@rsynchub/contracts';
import type { TrackedFile, TrackedSession } from '@rsynchub/rsync-log';
import { FileEventEntity, TransferSessionEntity } from './transfer.entities';

export function sessionRowToDto(r: TransferSessionEntity): TransferSessionDto {
  return {
    id: r.id,
    daemonPid: r.daemonPid,
    module: r.module,
    user: r.user,
    clientIp: r.clientIp,
    clientHost: r.clientHost,
    direction: r.direction,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    bytesReceived: r.bytesReceived,
    bytesSent: r.bytesSent,
    totalSize: r.totalSize,
    fileCount: r.fileCount,
    dirCount: r.dirCount,
    deletedCount: r.deletedCount,
    status: r.status,
    exitCode: r.exitCode,
    error: r.error,
  };
}

/** The live tracker's view of a session (after its row was inserted, so it has an id). */
export function trackedToDto(s: TrackedSession): TransferSessionDto {
  return sessionRowToDto({ ...s, id: s.id!, startedAt: s.startedAt.toISOString(), endedAt: s.endedAt ? s.endedAt.toISOString() : null });
}

/** A stored open session handed back to the tracker after a restart. */
export function trackedFromRow(r: TransferSessionEntity): TrackedSession {
  return { ...sessionRowToDto(r), startedAt: new Date(r.startedAt), endedAt: r.endedAt ? new Date(r.endedAt) : null, lastActivity: Date.now() };
}

export function fileRowToDto(r: FileEventEntity): FileEventDto {
  return { id: r.id, sessionId: r.sessionId, at: r.at, op: r.op, path: r.path, size: r.size, bytes: r.bytes, itemize: r.itemize };
}

export function trackedFileToDto(f: TrackedFile, id: number): FileEventDto {
  return { id, sessionId: f.session.id!, at: f.at.toISOString(), op: f.op, path: f.path, size: f.size, bytes: f.bytes, itemize: f.itemize };
}
