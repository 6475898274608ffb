import type { ToolDeclaration } from '../../agents/tools/types.ts';
import type { BuiltinTool } from './tool-config.ts';

/**
 * What the model is told about the built-in tools. The descriptions carry the etiquette the session cannot
 * enforce: say goodbye before ending, announce a transfer, and tell the caller when it failed.
 */

/** DTMF the call may send: digits, *, #, A-D, and w (0.5 s) / W (1 s) pauses. */
export const DTMF_DIGITS = /^[0-9*#A-DwW]{1,64}$/;

export function builtinDeclaration(
  name: BuiltinTool,
  opts: { transferTargets?: readonly string[] } = {},
): ToolDeclaration {
  switch (name) {
    case 'end_call':
      return {
        name,
        description:
          'End the phone call. Say a short goodbye first, in the same turn: the call ends once everything you ' +
          'said has been played to the caller. Use it when the caller says goodbye or the conversation is over.',
        parameters: {
          type: 'object',
          properties: {
            reason: { type: 'string', description: 'Why the call ends, in a few words (for the call record).' },
          },
        },
      };
    case 'transfer_call': {
      const targets = opts.transferTargets;
      return {
        name,
        description:
          'Transfer the caller to another phone number or SIP address. Tell the caller first that you are ' +
          'transferring them. If the target is busy or does not answer, the caller stays with you and the result ' +
          'says what happened: tell the caller and offer another way to help.',
        parameters: {
          type: 'object',
          properties: {
            target: {
              type: 'string',
              description:
                'A phone number with country code (e.g. +15551234567) or a SIP URI (sip:desk@pbx.example.com).',
              ...(targets && { enum: [...targets] }),
            },
            method: {
              type: 'string',
              enum: ['bridge', 'refer'],
              description:
                'bridge (default): callbridge dials the target; refer: the phone network takes the call over.',
            },
          },
          required: ['target'],
        },
        behavior: 'blocking',
      };
    }
    case 'send_dtmf':
      return {
        name,
        description:
          'Press keys on the phone keypad (DTMF tones), e.g. to choose options in an automated phone menu. ' +
          'Digits 0-9, *, #, A-D; w waits half a second, W waits one second.',
        parameters: {
          type: 'object',
          properties: { digits: { type: 'string', description: 'The keys to press in order, e.g. "1w2#".' } },
          required: ['digits'],
        },
      };
  }
}
