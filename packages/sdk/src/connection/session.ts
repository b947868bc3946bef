import {
  CAPABILITY_DELIVERY_EPOCH,
  CAPABILITY_EVENT_BATCH,
  CAPABILITY_MULTIPART,
  CAPABILITY_STREAMS,
  type Channel,
  ErrorCode,
  isSuccess,
  MIN_PROTOCOL_VERSION,
  negotiateVersion,
  PROTOCOL_VERSION,
  ProtocolError,
  RemoteError,
  type Stream,
} from "@outpost/protocol";

/** What the handshake established. */
export interface SessionInfo {
  deviceId: string;
  sessionId: string;
  /** Set when this login took over a live session of the same device (another instance with the same identity). */
  replacedSessionId?: string;
  version: number;
  serverId: string;
  /** The server's WebSocket ping interval from HelloAck (since 1.1); 0 when it announced none. */
  pingIntervalMs: number;
  /** Capabilities the server announced in HelloAck (e.g. `event-batch`). */
  capabilities: string[];
  /** Things the server accepted. */
  bound: string[];
  /** Things the server refused, with the reason (e.g. OUTPOST_FORBIDDEN, OUTPOST_NOT_FOUND). */
  refused: { thing: string; error: RemoteError }[];
  /**
   * With "delivery-epoch" on both sides: the highest run of seqs of the queue epoch the server has
   * applied ({from: 0, to: 0} when none). Undefined when the server does not speak it.
   */
  delivered: { from: number; to: number } | undefined;
  /**
   * The server's reconnect window from AuthResult (since 1.1), ms: after this connection is lost
   * without a Goodbye, retries after the first wait at least a random time in [0, window). 0: none.
   */
  reconnectWindowMs: number;
}

/** Options of {@link openSession}. */
export interface OpenSessionOptions {
  /** The application key; sent once in Auth, never logged. */
  appKey: string;
  /** Things to bind. */
  things: readonly string[];
  /** Software identification sent in Hello. */
  agent: string;
  /** The offline queue's epoch, announced with "delivery-epoch". */
  queueEpoch: number;
  /** Cancels the handshake. */
  signal?: AbortSignal;
  /** Streams the server opens; without it they are refused. */
  onStream?: (stream: Stream) => void;
}

/** Runs Hello -> HelloAck, Auth -> AuthResult, Bind -> Response on a fresh channel. */
export async function openSession(channel: Channel, options: OpenSessionOptions): Promise<SessionInfo> {
  const signal = options.signal ? { signal: options.signal } : {};
  const ackEnvelope = await channel.request(
    {
      hello: {
        minVersion: MIN_PROTOCOL_VERSION,
        maxVersion: PROTOCOL_VERSION,
        capabilities: [CAPABILITY_MULTIPART, CAPABILITY_EVENT_BATCH, CAPABILITY_STREAMS, CAPABILITY_DELIVERY_EPOCH],
        limits: { ...channel.limits },
        agent: options.agent,
        queueEpoch: options.queueEpoch,
      },
    },
    signal,
  );
  const ack = ackEnvelope.helloAck;
  if (!ack) throw new ProtocolError(ErrorCode.UnexpectedFrame, `expected HelloAck, got ${ackEnvelope.body}`);
  const version = negotiateVersion(ack.version ?? 0, ack.version ?? 0);
  channel.setPeerLimits(ack.limits);

  const authEnvelope = await channel.request({ auth: { appKey: options.appKey } }, signal);
  const auth = authEnvelope.authResult;
  if (!auth) throw new ProtocolError(ErrorCode.UnexpectedFrame, `expected AuthResult, got ${authEnvelope.body}`);

  if ((ack.capabilities ?? []).includes(CAPABILITY_STREAMS)) {
    channel.enableStreams({ side: "device", ...(options.onStream && { onStream: options.onStream }) });
  }

  const { bound, refused } = await bindThings(channel, options.things, options.signal);
  const capabilities = ack.capabilities ?? [];
  const delivered = capabilities.includes(CAPABILITY_DELIVERY_EPOCH)
    ? { from: Number(auth.delivered?.firstSeq ?? 0), to: Number(auth.delivered?.lastSeq ?? 0) }
    : undefined;
  return {
    deviceId: auth.deviceId ?? "",
    sessionId: auth.sessionId ?? "",
    ...(auth.replacedSessionId ? { replacedSessionId: auth.replacedSessionId } : {}),
    version,
    serverId: ack.serverId ?? "",
    pingIntervalMs: ack.pingIntervalMs ?? 0,
    capabilities,
    bound,
    refused,
    delivered,
    reconnectWindowMs: auth.reconnectWindowMs ?? 0,
  };
}

/** Binds Things in batches of the peer's maxBatch; refusals are per Thing, not a failure of the whole. */
export async function bindThings(
  channel: Channel,
  names: readonly string[],
  signal?: AbortSignal,
): Promise<Pick<SessionInfo, "bound" | "refused">> {
  const bound: string[] = [];
  const refused: SessionInfo["refused"] = [];
  const batch = channel.peerLimits.maxBatch;
  for (let i = 0; i < names.length; i += batch) {
    const things = names.slice(i, i + batch);
    const reply = await channel.request({ bind: { things } }, signal ? { signal } : {});
    const items = reply.response?.items ?? [];
    things.forEach((thing, index) => {
      const item = items.find((it) => it.key === thing) ?? items[index];
      const status = item?.status ?? 200;
      if (isSuccess(status)) bound.push(thing);
      else refused.push({ thing, error: bindError(thing, status, item?.message ?? "") });
    });
  }
  return { bound, refused };
}

function bindError(thing: string, status: number, message: string): RemoteError {
  const code = status === 403 ? ErrorCode.Forbidden : status === 404 ? ErrorCode.NotFound : ErrorCode.BadRequest;
  return new RemoteError(code, `bind ${thing} refused (${status})${message ? `: ${message}` : ""}`, { status });
}
