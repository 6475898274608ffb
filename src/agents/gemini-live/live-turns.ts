/**
 * The conversation as the sink sees it: model audio, transcripts (whole utterance so far per speaker), reply
 * done, interrupted. Kept apart from the connection, so it carries on unchanged across resumptions.
 */
import type { LiveServerContent } from '@google/genai';
import type { AgentSink } from '../agent.ts';

function rateFromMime(mimeType: string | undefined): number {
  if (mimeType === undefined || mimeType === 'audio/pcm;rate=24000') return 24000;
  const m = /rate=(\d+)/.exec(mimeType);
  return m ? Number(m[1]) : 24000;
}

export class LiveTurns {
  /** Audio of a model turn is arriving and replyDone() has not been signalled for it yet. */
  #replyOpen = false;
  #callerText = '';
  #agentText = '';
  /** The rest of the current reply is dropped (see dropReply) until the service ends it. */
  #muted = false;

  /** A reply is being generated (switching connections now would cut it). */
  get replying(): boolean {
    return this.#replyOpen;
  }

  serverContent(sc: LiveServerContent, sink: AgentSink): void {
    if (this.#muted) {
      // What is left of a reply dropped by dropReply(): not played, not in the transcript.
      if (sc.interrupted || sc.generationComplete || sc.turnComplete) this.#muted = false;
      if (sc.inputTranscription !== undefined) this.serverContent({ inputTranscription: sc.inputTranscription }, sink);
      return;
    }
    const inT = sc.inputTranscription;
    if (inT?.text) {
      this.#callerText += inT.text;
      const text = this.#callerText.trim();
      if (text) sink.transcript('caller', text, false);
    }
    if (inT?.finished) this.#finalizeCaller(sink);
    const parts = sc.modelTurn?.parts;
    if (parts !== undefined) {
      for (const p of parts) {
        const inline = p.inlineData;
        if (inline?.data && (inline.mimeType === undefined || inline.mimeType.startsWith('audio/'))) {
          // The caller's utterance is over once the model answers.
          if (this.#callerText) this.#finalizeCaller(sink);
          this.#replyOpen = true;
          sink.audio(Buffer.from(inline.data, 'base64'), rateFromMime(inline.mimeType));
        }
      }
    }
    const outT = sc.outputTranscription;
    if (outT !== undefined) {
      if (this.#callerText) this.#finalizeCaller(sink);
      if (outT.text) {
        this.#agentText += outT.text;
        const text = this.#agentText.trim();
        if (text) sink.transcript('agent', text, false);
      }
      if (outT.finished) this.#finalizeAgent(sink);
    }
    if (sc.interrupted) {
      this.#replyOpen = false;
      this.#finalizeAgent(sink);
      sink.interrupted();
    }
    // generationComplete = all audio of the reply produced (turnComplete can come much later, once the
    // model thinks the caller has heard it): close the reply at whichever comes first, once.
    if ((sc.generationComplete || sc.turnComplete) && this.#replyOpen) {
      this.#replyOpen = false;
      sink.replyDone();
    }
    if (sc.turnComplete) {
      this.#finalizeCaller(sink);
      this.#finalizeAgent(sink);
    }
  }

  /**
   * The connection is being replaced. A reply still open was cut (what arrived of it is all there will be; a
   * resumed session regenerates it if the handle predates it); the agent's utterance ends either way, since
   * the turnComplete that would close it comes, if at all, on the old connection. The audio already queued
   * keeps playing. The caller's utterance may go on: it stays open.
   */
  connectionEnded(sink: AgentSink): void {
    this.#muted = false;
    this.#finalizeAgent(sink);
    if (!this.#replyOpen) return;
    this.#replyOpen = false;
    sink.replyDone();
  }

  /**
   * Drop the current reply now, as a barge-in does (notify with `interrupt`): the sink drops what was not
   * heard, and whatever the service still sends of the reply is discarded until it ends it (interrupted,
   * generationComplete or turnComplete), so the model's answer to what comes next starts clean.
   */
  dropReply(sink: AgentSink): void {
    this.#finalizeAgent(sink);
    if (this.#replyOpen) this.#muted = true;
    this.#replyOpen = false;
    sink.interrupted();
  }

  #finalizeCaller(sink: AgentSink): void {
    const text = this.#callerText.trim();
    this.#callerText = '';
    if (text) sink.transcript('caller', text, true);
  }

  #finalizeAgent(sink: AgentSink): void {
    const text = this.#agentText.trim();
    this.#agentText = '';
    if (text) sink.transcript('agent', text, true);
  }
}
