/**
 * NATS failures as plotferry's errors, in one place, on the nats package's own error codes
 * (never on message strings).
 */
import { ErrorCode } from 'nats';
import { PlotferryError } from '../core/errors.js';

/** Codes by which the server refuses who we are. */
const AUTH: ReadonlySet<string> = new Set([
  ErrorCode.AuthorizationViolation,
  ErrorCode.AuthenticationExpired,
  ErrorCode.AuthenticationTimeout,
  ErrorCode.AccountExpired,
  ErrorCode.BadAuthentication,
  ErrorCode.BadCreds,
]);

export const natsCode = (err: unknown): string | undefined => (err as { code?: unknown })?.code as string | undefined;

/** 503 (no subscriber at all) or a timeout (subscribers that stayed silent): nobody took it. */
export function noTaker(err: unknown): boolean {
  const code = natsCode(err);
  return code === ErrorCode.NoResponders || code === ErrorCode.Timeout;
}

export function isAuthFailure(err: unknown): boolean {
  return AUTH.has(natsCode(err) ?? '');
}

/**
 * A TLS failure: nats' own code, or the codes Node's TLS layer gives a certificate it refuses
 * (ERR_TLS_CERT_ALTNAME_INVALID, UNABLE_TO_VERIFY_LEAF_SIGNATURE, DEPTH_ZERO_SELF_SIGNED_CERT, ...).
 */
export function isTlsFailure(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = natsCode(e);
    if (code === ErrorCode.Tls || /^ERR_(TLS|SSL)_|CERT|SELF_SIGNED|UNABLE_TO_/.test(code ?? '')) return true;
  }
  return false;
}

/** A request or subscription that failed for another reason than "nobody answered". */
export function natsFailed(subject: string, err: unknown): PlotferryError {
  return new PlotferryError('PF_CONNECTION', `NATS request on ${subject} failed: ${(err as Error).message}`, {
    cause: err,
  });
}
