/**
 * Contract of the volume-name module: the inline-option tokenizer and the canonical form pxd reads.
 * This module knows nothing else of the proxy (no config, no I/O).
 */

/** Keys with a meaning to the proxy; everything else is passed on to the backend untouched. */
export const TOKEN_KEY = 'token';
export const TOKEN_SECRET_KEY = 'token_secret';
export const TOKEN_SECRET_NAMESPACE_KEY = 'token_secret_namespace';
export const NAME_KEY = 'name';

/** pxd reads `name=([0-9A-Za-z_-]+)`: any other character silently cuts the name short there. */
export const PXD_NAME_RE = /^[0-9A-Za-z_-]+$/;

export interface ParsedName {
  /** The Name exactly as Docker sent it. */
  raw: string;
  /**
   * true when the Name is an inline spec (`key=value,...` holding `name=`); false for a bare name
   * such as `mnt1`, which is the volume name as a whole.
   */
  inline: boolean;
  /** The volume name pxd will read: the `name=` value, or the whole bare name. */
  volumeName: string;
  /** Every inline option in the order given, token keys included (values verbatim). */
  options: ReadonlyArray<readonly [key: string, value: string]>;
  /** `token=` in the Name, if any (a raw JWT; never log it). */
  token?: string;
  /** `token_secret=` in the Name, verbatim (not yet resolved). */
  tokenSecret?: string;
  /** `token_secret_namespace=` in the Name, verbatim. */
  tokenSecretNamespace?: string;
}
