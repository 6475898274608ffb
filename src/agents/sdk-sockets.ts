/**
 * The `ws` sockets inside the Deepgram and Cartesia SDKs, and Cartesia's context queue: the only code that
 * reaches into those SDKs' internals (they hide the socket each in its own way).
 */
import { VendorSocket, type WsSocket } from './vendor-socket.ts';

/**
 * @deepgram/sdk 5: the listen socket wraps a ReconnectingWebSocket (`socket`) around the `ws` socket (`_ws`).
 * Frames go on the `ws` socket itself (the wrapper's `send` and `bufferedAmount` only add a queue that is
 * never used: nothing is sent unless open); closing goes through the SDK so the wrapper does not reconnect.
 * Undefined until the SDK has created the `ws` socket.
 */
export function deepgramSocket(
  sdk: { socket: unknown; close(): void },
  maxBufferedBytes: number,
): VendorSocket | undefined {
  const ws = (sdk.socket as { _ws?: WsSocket } | undefined)?._ws;
  if (ws === undefined) return undefined;
  return new VendorSocket(ws, { maxBufferedBytes, sdkClose: () => sdk.close() });
}

/** @cartesia/cartesia-js 4: TTSWS keeps its `ws` socket as `socket` (it sends on it itself, through contexts). */
export function cartesiaSocket(sdk: { socket: unknown }): VendorSocket {
  return new VendorSocket(sdk.socket as WsSocket, { maxBufferedBytes: Infinity });
}

/**
 * @cartesia/cartesia-js 4: `context()` registers a per-context event queue that grows until `receive()`
 * drains it; callbridge reads events from the `event` emitter instead, so the queue is unregistered at once.
 */
export function dropCartesiaContextQueue(sdk: object, contextId: string): void {
  (sdk as { _unregisterContext(id: string): void })._unregisterContext(contextId);
}
