/** NATS credentials and TLS, shared by every command that talks to NATS. */
export interface NatsAuthArgs {
  natsToken?: string;
  natsUser?: string;
  natsPass?: string;
  natsCreds?: string;
  natsCa?: string;
  natsCert?: string;
  natsKey?: string;
}

export function natsAuth(a: NatsAuthArgs) {
  return {
    token: a.natsToken,
    user: a.natsUser,
    pass: a.natsPass,
    creds: a.natsCreds,
    ca: a.natsCa,
    cert: a.natsCert,
    key: a.natsKey,
  };
}
