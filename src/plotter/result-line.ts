/**
 * One line of `send --json` and `sweep --json`: one schema for both, so a script that reads
 * either reads the other (docs/commands.md, "Result lines"). Fields that do not apply are left
 * out; `status` says what happened and `sourceRemoved` whether the source is gone.
 */
import type { ErrorJson } from '../core/errors.js';

/** 'skipped': left where it is, and why (`error`): not whole yet, not a plot, a symbolic link. */
export type ResultStatus = 'sent' | 'duplicate' | 'failed' | 'locked' | 'would-send' | 'skipped';

export interface ResultLine {
  /** The source file as given (send) or found (sweep), and the plot's name. */
  file: string;
  name: string;
  /** The file's size in bytes; absent when it could not be read (`send` of a missing file). */
  size?: number;
  status: ResultStatus;
  harvester?: string;
  remotePath?: string;
  seconds?: number;
  mbps?: number;
  hash?: string;
  /** Bytes the harvester held already from a broken transfer (resume), and bytes sent now. */
  resumedFrom?: number;
  bytesSent?: number;
  /** Whether the source was removed (sent, or a duplicate whose copy was verified identical). */
  sourceRemoved?: boolean;
  /** Stored by an attempt whose RESULT was lost; found verified identical before a resend. */
  alreadyStored?: boolean;
  /** The source was gone already when it was to be removed (by hand?): delivered all the same. */
  sourceGone?: boolean;
  /** Delivered, but the source could not be removed (PF_DELETE_FAILED, PF_SOURCE_CHANGED). */
  deleteError?: ErrorJson;
  error?: ErrorJson;
}
