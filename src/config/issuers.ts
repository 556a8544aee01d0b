/**
 * The trusted issuers: the one given by flags, the environment or the YAML file's top level
 * (`--jwt-issuer` and its keys), then the YAML `issuers:` list. Key files are read and imported by the
 * verifier's own importers (tokens/keys.ts), so a key the verifier would refuse is refused here, at
 * load, naming the setting that gave it.
 */
import { createPublicKey } from 'node:crypto';
import { importEcdsaPublicKey, importRsaPublicKey } from '../tokens/keys.js';
import { WEAK_SHARED_SECRET_FIX, weakSharedSecret } from '../tokens/generate.js';
import type { IssuerConfig, UsernameClaim } from '../tokens/types.js';
import { PXD_DEFAULT_ISSUER, type OptionKey } from './options.js';
import type { IssuerYaml } from './schema.js';
import { Issues, readFileText, type Settings } from './settings.js';

interface Field {
  value: string;
  /** `--jwt-rsa-pubkey-file`, `PXD_AUTH_JWT_RSA_PUBKEY_FILE`, `<file>: issuers[1].rsaPublicKeyFile`... */
  from: string;
  option?: OptionKey;
}

interface IssuerInput {
  name: string;
  /** The issuer as a whole, for problems of no one field: `issuer p (--jwt-issuer)`, `<file>: issuers[1]`. */
  where: string;
  sharedSecret?: Field;
  sharedSecretFile?: Field;
  rsaPublicKeyFile?: Field;
  ecdsaPublicKeyFile?: Field;
  jwksUrl?: string;
  oidc?: boolean;
  usernameClaim?: UsernameClaim;
}

/**
 * The issuers, each key read and checked. A shared secret shorter than SHARED_SECRET_MIN_LENGTH is
 * accepted (pxd accepts it, and the proxy must verify what pxd's own secret signs) and noted in
 * `warnings`, without its value.
 */
export function buildIssuers(
  s: Settings,
  yaml: { name: string; issuers: readonly IssuerYaml[] } | undefined,
  abs: (p: string) => string,
  issues: Issues,
  warnings: Issues = new Issues(),
): IssuerConfig[] {
  const inputs: IssuerInput[] = [];
  const fromFlags = flagIssuer(s);
  if (fromFlags) inputs.push(fromFlags);
  const seen = new Set<string>(fromFlags ? [fromFlags.name] : []);
  for (const [idx, i] of (yaml?.issuers ?? []).entries()) {
    // The flag issuer replaces a YAML one of the same name (a key given on this node beats the file).
    if (i.name === fromFlags?.name) continue;
    const where = `${yaml!.name}: issuers[${idx}]`;
    if (seen.has(i.name)) {
      // The verifier refuses an issuer configured twice: refused here, before start.
      issues.add(where, `the issuer ${i.name} is listed twice`);
      continue;
    }
    seen.add(i.name);
    const field = (key: keyof IssuerYaml): Field | undefined => {
      const value = i[key];
      return typeof value === 'string' ? { value, from: `${where}.${key}` } : undefined;
    };
    inputs.push({
      name: i.name,
      where,
      sharedSecret: field('sharedSecret'),
      sharedSecretFile: field('sharedSecretFile'),
      rsaPublicKeyFile: field('rsaPublicKeyFile'),
      ecdsaPublicKeyFile: field('ecdsaPublicKeyFile'),
      jwksUrl: i.jwksUrl,
      oidc: i.oidc,
      usernameClaim: i.usernameClaim,
    });
  }
  if (inputs.length === 0) {
    issues.note(
      'no trusted issuer: set --jwt-issuer with a key (--jwt-shared-secret / PORTWORX_AUTH_JWT_SHAREDSECRET, --jwt-rsa-pubkey-file, --jwt-ecds-pubkey-file) or list issuers in the YAML file',
      'jwtIssuer',
    );
  }
  return inputs.map((i) => buildIssuer(i, abs, issues, warnings));
}

/** As osd (pxd's plugin server): keys given without --jwt-issuer belong to the issuer openstorage.io. */
function flagIssuer(s: Settings): IssuerInput | undefined {
  const field = (key: OptionKey): Field | undefined => {
    const value = s.values[key];
    return s.level(key) !== undefined && typeof value === 'string' ? { value, from: s.from(key), option: key } : undefined;
  };
  const keys = {
    sharedSecret: field('jwtSharedSecret'),
    sharedSecretFile: field('jwtSharedSecretFile'),
    rsaPublicKeyFile: field('jwtRsaPubkeyFile'),
    ecdsaPublicKeyFile: field('jwtEcdsPubkeyFile'),
  };
  const issuer = field('jwtIssuer');
  if (!issuer && !Object.values(keys).some(Boolean)) return undefined;
  const name = issuer?.value ?? PXD_DEFAULT_ISSUER;
  return { name, where: `issuer ${name} (${issuer?.from ?? 'keys given without --jwt-issuer'})`, ...keys };
}

function buildIssuer(i: IssuerInput, abs: (p: string) => string, issues: Issues, warnings: Issues): IssuerConfig {
  const cfg: IssuerConfig = { name: i.name };
  if (i.usernameClaim) cfg.usernameClaim = i.usernameClaim;
  if (i.sharedSecret && i.sharedSecretFile) {
    issues.note(
      `${i.sharedSecret.from} and ${i.sharedSecretFile.from}: give the shared secret or its file, not both`,
      i.sharedSecret.option,
    );
  }
  const secretField = i.sharedSecretFile ?? i.sharedSecret;
  const secret = i.sharedSecretFile
    ? readFileText(abs(i.sharedSecretFile.value), i.sharedSecretFile.from, issues, i.sharedSecretFile.option)?.trim()
    : i.sharedSecret?.value;
  if (secret !== undefined) {
    const weak = weakSharedSecret(secret);
    if (secret === '') issues.add(secretField!.from, 'the shared secret is empty', secretField!.option);
    else if (weak) warnings.add(secretField!.from, `issuer ${i.name}: ${weak}; ${WEAK_SHARED_SECRET_FIX}`, secretField!.option);
    cfg.sharedSecret = secret;
  }
  if (i.rsaPublicKeyFile) cfg.rsaPublicKeyPem = readPublicKey(i.rsaPublicKeyFile, 'rsa', abs, issues);
  if (i.ecdsaPublicKeyFile) cfg.ecdsaPublicKeyPem = readPublicKey(i.ecdsaPublicKeyFile, 'ec', abs, issues);
  if (i.jwksUrl) cfg.jwksUrl = i.jwksUrl;
  if (i.oidc) {
    cfg.oidcDiscovery = true;
    if (!/^https?:\/\//.test(i.name)) issues.add(i.where, 'oidc: true needs the issuer name to be its URL (https://...)');
  }
  if (!i.sharedSecret && !i.sharedSecretFile && !i.rsaPublicKeyFile && !i.ecdsaPublicKeyFile && !i.jwksUrl && !i.oidc) {
    issues.add(i.where, 'no key configured (shared secret, RSA or ECDSA public key file)');
  }
  return cfg;
}

/** The PEM text of a public key file, if the verifier's importer takes it. */
function readPublicKey(field: Field, want: 'rsa' | 'ec', abs: (p: string) => string, issues: Issues): string | undefined {
  const file = abs(field.value);
  const pem = readFileText(file, field.from, issues, field.option);
  if (pem === undefined) return undefined;
  try {
    if (want === 'rsa') importRsaPublicKey(pem, `${field.from}: ${file}`);
    else importEcdsaPublicKey(pem, `${field.from}: ${file}`);
    return pem;
  } catch (e) {
    // The importer decides. A key of the other family is the usual mistake: say it as the operator would.
    const got = keyType(pem);
    if (got !== undefined && got !== want) {
      issues.add(field.from, `${file} holds an ${got} key, expected an ${want === 'rsa' ? 'RSA' : 'ECDSA'} public key`, field.option);
    } else {
      issues.note((e as Error).message, field.option);
    }
    return undefined;
  }
}

function keyType(pem: string): string | undefined {
  try {
    return createPublicKey(pem).asymmetricKeyType ?? 'unknown';
  } catch {
    return undefined;
  }
}
