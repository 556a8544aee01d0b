/**
 * What a token secret must hold, for every store: UTF-8 text that, trimmed, is not empty, not a JSON
 * document and free of control characters. One check, so a token is taken or refused alike wherever
 * it is kept; each store words the fix for its own tools.
 */
import { ProxyError } from '../errors.js';

/** Why a secret cannot be a token. */
export type NotTokenReason = 'binary' | 'empty' | 'json' | 'control';

/** The error a store raises for a reason (its own wording of the fix). */
export type RefuseSecret = (reason: NotTokenReason) => ProxyError;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function looksLikeJsonObject(s: string): boolean {
  if (!s.startsWith('{')) return false;
  try {
    const v = JSON.parse(s) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

/** The file store's wording (the default). */
function refuseAsFile(secretPath: string): RefuseSecret {
  return (reason) => {
    const d = { secretPath };
    switch (reason) {
      case 'empty':
        return new ProxyError('SECRET_EMPTY', `secret ${secretPath} is empty: store the token in it`, d);
      case 'json':
        return new ProxyError(
          'SECRET_NOT_TEXT',
          `secret ${secretPath} holds JSON, not a token: store the raw JWT as the secret's value`,
          d,
        );
      case 'binary':
      case 'control':
        return new ProxyError('SECRET_NOT_TEXT', `secret ${secretPath} holds binary data, not a token`, d);
    }
  };
}

/** The token in a secret's text: trimmed (files and `--value="$(cat f)"` often end with a newline). */
export function tokenText(text: string, secretPath: string, refuse: RefuseSecret = refuseAsFile(secretPath)): string {
  const value = text.trim();
  if (value === '') throw refuse('empty');
  // A service account credential stored by mistake; a JSON array is left to the token check.
  if (looksLikeJsonObject(value)) throw refuse('json');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(value)) throw refuse('control');
  return value;
}

/** The token in a secret's raw bytes: they must be UTF-8 text, then as tokenText(). */
export function textValue(buf: Buffer, secretPath: string, refuse: RefuseSecret = refuseAsFile(secretPath)): string {
  let text: string;
  try {
    text = utf8.decode(buf);
  } catch {
    throw refuse('binary');
  }
  return tokenText(text, secretPath, refuse);
}
