/**
 * The one table of serve options: CLI flag, environment variables (first wins), YAML key,
 * default and help text. The CLI help, the README's reference and the loader all read it.
 */

export type OptionKind = 'string' | 'int' | 'bool' | 'list';

export interface OptionSpec {
  /** Key in the YAML file and in the merged raw config. */
  key: string;
  flag: string;
  env: string[];
  kind: OptionKind;
  /** Default shown in help; the real default lives in the schema. */
  defaultText: string;
  description: string;
  /** Values that must not be echoed (help shows no default, problems never show the value). */
  sensitive?: boolean;
}

export const SERVE_OPTIONS: OptionSpec[] = [
  { key: 'config', flag: '--config <file>', env: ['PXD_AUTH_CONFIG'], kind: 'string', defaultText: '(none)', description: 'YAML configuration file (flags and environment take precedence over it)' },
  { key: 'socket', flag: '--socket <path>', env: ['PXD_AUTH_SOCKET'], kind: 'string', defaultText: '/run/docker/plugins/pxd-auth.sock', description: 'unix socket the plugin listens on (dockerd finds /run/docker/plugins/<name>.sock)' },
  { key: 'socketGroup', flag: '--socket-group <group>', env: ['PXD_AUTH_SOCKET_GROUP'], kind: 'string', defaultText: '(owner\'s group)', description: 'group (name or gid) given the socket; mode is always 0660' },
  { key: 'backend', flag: '--backend <url>', env: ['PXD_AUTH_BACKEND'], kind: 'string', defaultText: 'unix:///run/docker/plugins/pxd.sock', description: 'where requests go: unix://<pxd socket>, or local:<dir> for the built-in volume driver' },
  { key: 'mountsRoot', flag: '--mounts-root <dir>', env: ['PXD_AUTH_MOUNTS_ROOT'], kind: 'string', defaultText: '/var/lib/osd/mounts (local:<dir> → <dir>/mounts)', description: 'every Mountpoint the backend returns must be under this folder' },
  { key: 'backendTimeout', flag: '--backend-timeout <seconds>', env: ['PXD_AUTH_BACKEND_TIMEOUT'], kind: 'int', defaultText: '90', description: 'longest wait for one backend call (always kept inside Docker\'s own 1 and 2 minute limits)' },
  { key: 'scope', flag: '--scope <scope>', env: ['PXD_AUTH_SCOPE'], kind: 'string', defaultText: '(the backend\'s answer)', description: 'override the Capabilities scope: global or local' },
  { key: 'secrets', flag: '--secrets <store>', env: ['PXD_AUTH_SECRETS'], kind: 'string', defaultText: 'dcos', description: 'where token_secret values are read: dcos, or file:<dir> (a secret is the file <dir>/<path>)' },
  { key: 'secretsBasePath', flag: '--secrets-base-path <path>', env: ['PXD_AUTH_SECRETS_BASE_PATH', 'DCOS_SECRETS_BASE_PATH'], kind: 'string', defaultText: '(none: top level)', description: 'token_secret paths are read under this path; nothing outside it is ever read' },
  { key: 'stateDir', flag: '--state-dir <dir>', env: ['PXD_AUTH_STATE_DIR'], kind: 'string', defaultText: '/var/lib/pxd-auth-proxy', description: 'folder of the state file (token references given with -o token_secret, known volumes)' },
  { key: 'jwtIssuer', flag: '--jwt-issuer <iss>', env: ['PXD_AUTH_JWT_ISSUER', 'PORTWORX_AUTH_JWT_ISSUER'], kind: 'string', defaultText: 'openstorage.io when a key is given (as osd)', description: 'trusted token issuer (exact iss); more issuers through the YAML file' },
  { key: 'jwtSharedSecret', flag: '--jwt-shared-secret <secret>', env: ['PORTWORX_AUTH_JWT_SHAREDSECRET', 'OPENSTORAGE_AUTH_SHAREDSECRET'], kind: 'string', defaultText: '(none)', description: 'HS256/384/512 key of that issuer (prefer the environment: flags show in ps)', sensitive: true },
  { key: 'jwtSharedSecretFile', flag: '--jwt-shared-secret-file <file>', env: ['PXD_AUTH_JWT_SHARED_SECRET_FILE'], kind: 'string', defaultText: '(none)', description: 'file holding the shared secret' },
  { key: 'jwtRsaPubkeyFile', flag: '--jwt-rsa-pubkey-file <file>', env: ['PXD_AUTH_JWT_RSA_PUBKEY_FILE', 'PORTWORX_AUTH_JWT_RSA_PUBKEY_FILE'], kind: 'string', defaultText: '(none)', description: 'RSA public key (PEM) of that issuer: RS256/384/512' },
  { key: 'jwtEcdsPubkeyFile', flag: '--jwt-ecds-pubkey-file <file>', env: ['PXD_AUTH_JWT_ECDS_PUBKEY_FILE', 'PORTWORX_AUTH_JWT_ECDS_PUBKEY_FILE'], kind: 'string', defaultText: '(none)', description: 'ECDSA public key (PEM) of that issuer: ES256/384/512' },
  { key: 'usernameClaim', flag: '--username-claim <claim>', env: ['PXD_AUTH_USERNAME_CLAIM', 'PORTWORX_AUTH_USERNAME_CLAIM'], kind: 'string', defaultText: 'sub', description: 'claim naming the volume owner: sub, email or name (must match pxd)' },
  { key: 'clockTolerance', flag: '--clock-tolerance <seconds>', env: ['PXD_AUTH_CLOCK_TOLERANCE'], kind: 'int', defaultText: '0', description: 'leeway on exp/nbf/iat (pxd has none: a token pxd would refuse is refused here)' },
  { key: 'requiredClaims', flag: '--required-claims <list>', env: ['PXD_AUTH_REQUIRED_CLAIMS'], kind: 'list', defaultText: 'iss,sub,exp,iat,name,email', description: 'claims every token must carry (comma-separated)' },
  { key: 'tokenCacheSize', flag: '--token-cache-size <n>', env: ['PXD_AUTH_TOKEN_CACHE_SIZE'], kind: 'int', defaultText: '10000', description: 'verified tokens kept (until their exp); 0 disables' },
  { key: 'logLevel', flag: '--log-level <level>', env: ['PXD_AUTH_LOG_LEVEL'], kind: 'string', defaultText: 'info', description: 'trace, debug, info, warn, error or silent' },
  { key: 'logPretty', flag: '--log-pretty', env: ['PXD_AUTH_LOG_PRETTY'], kind: 'bool', defaultText: 'false', description: 'human-readable logs instead of JSON lines' },
  { key: 'adminListen', flag: '--admin-listen <addr>', env: ['PXD_AUTH_ADMIN_LISTEN'], kind: 'string', defaultText: '(off)', description: 'admin HTTP listener for /metrics, /healthz, /readyz: host:port or unix:<path>' },
  { key: 'embedded', flag: '--embedded', env: ['PXD_AUTH_EMBEDDED'], kind: 'bool', defaultText: 'false', description: 'try-it mode: a state folder ./.pxd-auth with a local backend, file secrets, a generated key and tokens' },
];
