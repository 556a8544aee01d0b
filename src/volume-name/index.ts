/** Public API of the volume-name module (tokenizer, Opts, secret paths, forwarding, redaction). */
export * from './types.js';
export {
  parseName,
  assertExpressibleForPxd,
  DEFAULT_MAX_NAME_LENGTH,
  DEFAULT_MAX_TOKEN_LENGTH,
  type NameLimits,
} from './parse.js';
export { parseOpts } from './opts.js';
export { resolveSecretPath, MAX_SECRET_PATH_LENGTH, type SecretPathInput } from './secret-path.js';
export { serializeOptions, forwardNameForPxd, redactName, KEY_RE } from './serialize.js';
export { assertReadableByPxd, pxdReadableOrder } from './pxd-values.js';
