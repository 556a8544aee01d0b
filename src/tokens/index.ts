export { TokenVerifier, PXD_REQUIRED_CLAIMS, type VerifierStats } from './verify.js';
export {
  generateToken,
  parseAuthConfig,
  parseDuration,
  type AuthConfigClaims,
  type GenerateKey,
  type GenerateTokenInput,
} from './generate.js';
export {
  describeSource,
  type IssuerConfig,
  type TokenSource,
  type UsernameClaim,
  type VerifiedToken,
  type VerifierOptions,
} from './types.js';
