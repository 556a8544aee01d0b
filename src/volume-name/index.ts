/** Public API of the volume-name module (tokenizer, Opts, secret paths, forwarding, redaction). */
export * from './types.js';
export { parseName, assertExpressibleForPxd, DEFAULT_MAX_NAME_LENGTH, DEFAULT_MAX_TOKEN_LENGTH, type NameLimits } from './parse.js';
export { parseOpts } from './opts.js';
export { resolveSecretPath, secretPathSegments, MAX_SECRET_PATH_LENGTH, type SecretPathInput } from './secret-path.js';
export { serializeOptions, redactName, KEY_RE } from './serialize.js';
export {
  readNameAsPxd,
  readRequestAsPxd,
  assertPxdReadsAsChecked,
  nameValueToOptsValue,
  pxdNameValueClass,
  PXD_NAME_SPEC_KEYS,
  PXD_NAME_KEY_TABLE,
  PXD_SECRET_VALUE_KEYS,
  PXD_VOLUME_REFERENCE_KEYS,
  PROXY_KEYS,
  type PxdNameReading,
  type PxdRequestReading,
  type CheckedRequest,
  type ForwardedBody,
  type PxdOperation,
} from './pxd-reading.js';
export { createSpec, mountSpec, forwardedBody } from './forward.js';
