/**
 * The wiring every receiving server shares (listen's Listener, a claim's OneShotReceiver, a
 * harvester's SpeedtestListener): an accepted socket becomes an intake and a ReceiveSession,
 * tracked in `sessions` until its outcome. Each server then acts on the outcome its own way.
 */
import type net from 'node:net';
import { createIntake, IntakeMode } from './intake.js';
import { ReceiveSession, ReceiverContext } from './session.js';

export function serveConnection(
  accepted: net.Socket,
  ctx: ReceiverContext,
  sessions: Set<ReceiveSession>,
  userBuffers = true,
): { session: ReceiveSession; mode: IntakeMode } {
  const intake = createIntake(accepted, userBuffers);
  const session = new ReceiveSession(intake.socket, ctx);
  intake.attach(session);
  sessions.add(session);
  void session.outcome.then(() => sessions.delete(session));
  return { session, mode: intake.mode };
}
