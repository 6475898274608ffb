/**
 * What a call can be asked to do besides talking: the built-in tools (end_call, transfer_call, send_dtmf)
 * and the call-control API (POST /calls/{id}/transfer, /dtmf) both come here. The session owns one
 * implementation per call; tool running (calls/tools/) and the HTTP API only see this interface.
 */

/** How a transfer ended. On anything but `ok` the caller is still with the agent. */
export type TransferOutcome =
  | { readonly ok: true; readonly method: 'bridge' | 'refer' }
  | {
      readonly ok: false;
      readonly reason: 'busy' | 'no-answer' | 'rejected' | 'failed' | 'invalid';
      readonly detail: string;
    };

export interface CallActions {
  /** End the call once everything queued for the caller has been heard (the agent's goodbye), then hang up. */
  endAfterPlayback(reason: string): void;
  /**
   * Blind transfer of the caller to `target`: a number (through the call's gateway) or a `sip:` URI.
   * `refer` asks the far end to take the call (SIP REFER, where the trunk supports it); `bridge` (default)
   * dials the target from FreeSWITCH and bridges the caller to it.
   */
  transfer(target: string, opts?: { readonly method?: 'bridge' | 'refer' }): Promise<TransferOutcome>;
  /** Send DTMF digits (0-9, *, #, A-D, and w/W pauses) into the call, e.g. to drive an IVR. */
  sendDtmf(digits: string): Promise<void>;
}
