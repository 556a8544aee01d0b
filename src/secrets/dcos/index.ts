/** The DC/OS Secret Store: its configuration's shape, the store, and the pieces tests and `doctor` use (loading: src/config/dcos.ts). */
import type { DcosConfig } from './config.js';
import type { DcosLogger } from './log.js';
import { DcosSecretStore, type DcosSecretStoreOptions } from './store.js';

export {
  DCOS_DEFAULTS,
  DEFAULT_DCOS_URL,
  DcosConfigSchema,
  SecretText,
  describeDcosConfig,
  makeDcosConfig,
  sameDcosConfig,
  type DcosConfig,
  type DcosConfigInput,
  type DcosLogin,
} from './config.js';
export { DcosClient, secretUrlPath, type DcosClientOptions, type LoginBody, type SecretReply } from './client.js';
export { DcosAuth, makeLoginBody, renewalDelayMs, type DcosAuthOptions, type DcosAuthStatus } from './login.js';
export { formatDuration, silentLogger, type DcosLogger } from './log.js';
export { DcosSecretStore, WARM_JITTER_MS, type DcosSecretStoreOptions } from './store.js';
export { DcosReferenceRegistry, DEFAULT_REFERENCES_FOLDER, decodeReference, encodeReference } from './registry.js';

/** The store the CLI builds for `--secrets dcos` (config from loadConfig or dcosConfigFromEnv, logger: pino or a child of it). */
export function createDcosSecretStore(
  config: DcosConfig,
  logger?: DcosLogger,
  options: Omit<DcosSecretStoreOptions, 'logger'> = {},
): DcosSecretStore {
  return new DcosSecretStore(config, { ...options, ...(logger ? { logger } : {}) });
}
