import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { errorText } from '../errors.ts';
import { type ClusterKeys, INSTANCE_ID_PATTERN, checkInstanceId, clusterKeys } from './keys.ts';
import type { RedisLink } from './redis-link.ts';

/** An action on a call (hangup, and later transfer/DTMF/say), as routed to the call's owner. */
export interface ActionRequest {
  callId: string;
  action: string;
  args?: unknown;
}

export type ActionHandler = (req: ActionRequest) => Promise<unknown>;

/** Nobody listens on the owner's action channel: the owner is gone (answered at once, no waiting). */
export class OwnerGoneError extends Error {
  override name = 'OwnerGoneError';
  readonly owner: string;
  constructor(owner: string) {
    super(`instance ${owner} is not in the cluster any more`);
    this.owner = owner;
  }
}

/** The owner did not answer in time. */
export class OwnerTimeoutError extends Error {
  override name = 'OwnerTimeoutError';
  readonly owner: string;
  readonly timeoutMs: number;
  constructor(owner: string, timeoutMs: number) {
    super(`instance ${owner} did not answer within ${timeoutMs} ms`);
    this.owner = owner;
    this.timeoutMs = timeoutMs;
  }
}

/** Too many requests are waiting for answers already. */
export class ActionBusBusyError extends Error {
  override name = 'ActionBusBusyError';
}

/** The request could not be sent (Redis unreachable). */
export class ActionBusUnavailableError extends Error {
  override name = 'ActionBusUnavailableError';
}

/**
 * The owner's handler failed: `name` and `message` (and `code`, when the error had one) are the original
 * error's, e.g. name `CallNotLive`, so callers map it as if the handler had run here.
 */
export class RemoteActionError extends Error {
  readonly code: string | undefined;
  constructor(name: string, message: string, code?: string) {
    super(message);
    this.name = name;
    this.code = code;
  }
}

export interface ActionBusOptions {
  link: RedisLink;
  instanceId: string;
  prefix: string;
  /** Requests waiting for an answer at once, beyond which request() fails with ActionBusBusyError. */
  maxPending?: number;
  /** Requests this instance's handler runs at once, beyond which the requester gets an ActionBusBusy answer. */
  maxServing?: number;
}

interface RequestMessage {
  cid: string;
  from: string;
  callId: string;
  action: string;
  args?: unknown;
}

interface ReplyMessage {
  cid: string;
  ok: boolean;
  value?: unknown;
  error?: { name: string; message: string; code?: string };
}

interface Waiting {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

const TEXT_KEPT = 500;

/**
 * Routes actions to a call's owner over Redis pub/sub: requests go to `P:actions:<owner>` with a correlation
 * id, answers come back on `P:replies:<requester>`. A request nobody receives (PUBLISH reached no subscriber)
 * fails at once with OwnerGoneError; one not answered in time with OwnerTimeoutError; a handler's error comes
 * back as RemoteActionError carrying the original name and message.
 */
export class ActionBus extends EventEmitter<{ 'bad-message': [channel: string] }> {
  readonly instanceId: string;
  readonly #link: RedisLink;
  readonly #keys: ClusterKeys;
  readonly #maxPending: number;
  readonly #maxServing: number;
  readonly #waiting = new Map<string, Waiting>();
  #serving = 0;
  #replies: Promise<() => Promise<void>> | undefined;
  #unserve: (() => Promise<void>) | undefined;

  constructor(opts: ActionBusOptions) {
    super();
    this.instanceId = checkInstanceId(opts.instanceId);
    this.#link = opts.link;
    this.#keys = clusterKeys(opts.prefix);
    this.#maxPending = opts.maxPending ?? 1000;
    this.#maxServing = opts.maxServing ?? 1000;
  }

  /** Answer requests for this instance's calls with `handler` (one handler; call again to replace it). */
  async serve(handler: ActionHandler): Promise<void> {
    await this.#unserve?.();
    this.#unserve = await this.#link.listen(this.#keys.actions(this.instanceId), (json) => {
      const req = parseRequest(json);
      if (req) void this.#answer(handler, req);
      else this.emit('bad-message', this.#keys.actions(this.instanceId));
    });
  }

  /** Ask `owner` to run an action on one of its calls; resolves with the handler's value. */
  async request(owner: string, req: ActionRequest, timeoutMs: number): Promise<unknown> {
    checkInstanceId(owner);
    await this.#listenForReplies();
    if (this.#waiting.size >= this.#maxPending) {
      throw new ActionBusBusyError(`${this.#waiting.size} action requests are waiting for answers already`);
    }
    const msg: RequestMessage = { cid: randomUUID(), from: this.instanceId, ...req };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(msg.cid);
        reject(new OwnerTimeoutError(owner, timeoutMs));
      }, timeoutMs);
      this.#waiting.set(msg.cid, { resolve, reject, timer });
      const settle = (e: Error): void => {
        if (!this.#waiting.delete(msg.cid)) return;
        clearTimeout(timer);
        reject(e);
      };
      this.#link.command.publish(this.#keys.actions(owner), JSON.stringify(msg)).then(
        (receivers) => {
          if (receivers === 0) settle(new OwnerGoneError(owner));
        },
        (e: unknown) => settle(new ActionBusUnavailableError(`action request not sent: ${errorText(e)}`)),
      );
    });
  }

  /** Requests waiting for an answer. */
  get pending(): number {
    return this.#waiting.size;
  }

  /** Stop serving and listening; requests still waiting fail with ActionBusUnavailableError. */
  async close(): Promise<void> {
    const unserve = this.#unserve;
    this.#unserve = undefined;
    await unserve?.();
    const replies = this.#replies;
    this.#replies = undefined;
    if (replies) await replies.then((stop) => stop()).catch(() => {});
    for (const [cid, w] of this.#waiting) {
      clearTimeout(w.timer);
      this.#waiting.delete(cid);
      w.reject(new ActionBusUnavailableError('action bus closed'));
    }
  }

  #listenForReplies(): Promise<() => Promise<void>> {
    if (!this.#replies) {
      const replies = this.#link.listen(this.#keys.replies(this.instanceId), (json) => this.#onReply(json));
      replies.catch(() => {
        if (this.#replies === replies) this.#replies = undefined; // try again with the next request
      });
      this.#replies = replies;
    }
    return this.#replies;
  }

  #onReply(json: string): void {
    const reply = parseReply(json);
    if (!reply) {
      this.emit('bad-message', this.#keys.replies(this.instanceId));
      return;
    }
    const w = this.#waiting.get(reply.cid);
    if (!w) return; // answered after its timeout
    this.#waiting.delete(reply.cid);
    clearTimeout(w.timer);
    if (reply.ok) w.resolve(reply.value);
    else {
      const e = reply.error ?? { name: 'Error', message: 'action failed' };
      w.reject(new RemoteActionError(e.name, e.message, e.code));
    }
  }

  async #answer(handler: ActionHandler, req: RequestMessage): Promise<void> {
    let reply: ReplyMessage;
    if (this.#serving >= this.#maxServing) {
      reply = { cid: req.cid, ok: false, error: { name: 'ActionBusBusy', message: 'too many actions in progress' } };
    } else {
      this.#serving++;
      try {
        const value = await handler({ callId: req.callId, action: req.action, args: req.args });
        reply = { cid: req.cid, ok: true, value };
      } catch (e) {
        reply = { cid: req.cid, ok: false, error: describeError(e) };
      } finally {
        this.#serving--;
      }
    }
    let json: string;
    try {
      json = JSON.stringify(reply);
    } catch (e) {
      json = JSON.stringify({ cid: req.cid, ok: false, error: describeError(e) });
    }
    // The requester times out on its own when Redis lost the answer.
    await this.#link.command.publish(this.#keys.replies(req.from), json).catch(() => {});
  }
}

function describeError(e: unknown): { name: string; message: string; code?: string } {
  const name = e instanceof Error ? e.name : 'Error';
  const code = e && typeof e === 'object' && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
  return { name: name.slice(0, 80), message: errorText(e).slice(0, TEXT_KEPT), ...(code ? { code } : {}) };
}

function parseRequest(json: string): RequestMessage | undefined {
  try {
    const v = JSON.parse(json) as Partial<RequestMessage>;
    const strings = [v.cid, v.from, v.callId, v.action].every((s) => typeof s === 'string');
    return strings && typeof v.from === 'string' && INSTANCE_ID_PATTERN.test(v.from)
      ? (v as RequestMessage)
      : undefined;
  } catch {
    return undefined;
  }
}

function parseReply(json: string): ReplyMessage | undefined {
  try {
    const v = JSON.parse(json) as Partial<ReplyMessage>;
    return typeof v.cid === 'string' && typeof v.ok === 'boolean' ? (v as ReplyMessage) : undefined;
  } catch {
    return undefined;
  }
}
