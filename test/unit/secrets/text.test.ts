import { describe, expect, it } from 'vitest';
import { ProxyError } from '../../../src/errors.js';
import { textValue, tokenText, type NotTokenReason } from '../../../src/secrets/text.js';

/** The one check of what a token secret holds, shared by the file store and both DC/OS reply kinds. */
describe('textValue / tokenText', () => {
  it('trims UTF-8 text', () => {
    expect(textValue(Buffer.from('\ufefftok.en.sig \r\n'), 'p')).toBe('tok.en.sig');
    expect(tokenText('  é-token\n', 'p')).toBe('é-token');
  });

  it.each([
    ['invalid UTF-8', Buffer.from([0xde, 0xad, 0xbe, 0xef]), 'SECRET_NOT_TEXT', 'secret p holds binary data, not a token'],
    ['control characters', Buffer.from('to\u0000ken'), 'SECRET_NOT_TEXT', 'secret p holds binary data, not a token'],
    ['whitespace only', Buffer.from(' \n\t'), 'SECRET_EMPTY', 'secret p is empty: store the token in it'],
    [
      'a JSON object',
      Buffer.from('{"uid":"x"}'),
      'SECRET_NOT_TEXT',
      "secret p holds JSON, not a token: store the raw JWT as the secret's value",
    ],
  ] as const)("refuses %s in the file store's words by default", (_what, bytes, code, message) => {
    expect(() => textValue(bytes, 'p')).toThrow(expect.objectContaining({ code, message, details: { secretPath: 'p' } }));
  });

  it('leaves a JSON array or a stray brace to the token check (only an object is a document)', () => {
    expect(tokenText('[1]', 'p')).toBe('[1]');
    expect(tokenText('{not json', 'p')).toBe('{not json');
  });

  it('lets a store word each refusal', () => {
    const seen: NotTokenReason[] = [];
    const refuse = (reason: NotTokenReason) => {
      seen.push(reason);
      return new ProxyError('SECRET_NOT_TEXT', `custom ${reason}`, { secretPath: 'p' });
    };
    for (const bytes of [Buffer.from([0xff]), Buffer.from(''), Buffer.from('{"a":1}'), Buffer.from('a\u007fb')]) {
      expect(() => textValue(bytes, 'p', refuse)).toThrow(/^custom /);
    }
    expect(seen).toEqual(['binary', 'empty', 'json', 'control']);
  });
});
