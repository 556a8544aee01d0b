import { promises as fsp } from 'node:fs';
import type { Command } from 'commander';
import { generateToken, parseAuthConfig, parseDuration } from '../tokens/generate.js';

/** `token generate`: compatible with `pxctl auth token generate` / openstorage-sdk-auth. */
export function registerTokenCommands(program: Command, _addServeOptions: (c: Command) => Command): void {
  const token = program.command('token').description('make and check tokens');
  token
    .command('generate')
    .description('sign a token from a YAML auth config (name, email, sub, roles, groups), as pxctl auth token generate')
    .requiredOption('--auth-config <file>', 'YAML file with name, email, sub, roles, groups')
    .option('--issuer <iss>', 'issuer (iss claim)', 'openstorage.io')
    .option('--shared-secret <secret>', 'HS256 key [env PORTWORX_AUTH_SHARED_SECRET, PORTWORX_AUTH_JWT_SHAREDSECRET]')
    .option('--rsa-private-keyfile <file>', 'RSA private key (PEM): RS256')
    .option('--ecdsa-private-keyfile <file>', 'ECDSA private key (PEM): ES256/384/512')
    .option('--token-duration <d>', 'lifetime, ^[0-9]+(s|m|h|d|y)$', '1d')
    .option('--output <file>', 'write the token to this file (mode 0600) instead of stdout')
    .action(async (o: Record<string, string | undefined>) => {
      const claims = parseAuthConfig(await fsp.readFile(o.authConfig!, 'utf8'));
      const durationSec = parseDuration(o.tokenDuration!);
      const shared = o.sharedSecret ?? process.env.PORTWORX_AUTH_SHARED_SECRET ?? process.env.PORTWORX_AUTH_JWT_SHAREDSECRET;
      const keys = [shared, o.rsaPrivateKeyfile, o.ecdsaPrivateKeyfile].filter(Boolean);
      if (keys.length !== 1) throw new Error('give exactly one of --shared-secret (or PORTWORX_AUTH_SHARED_SECRET), --rsa-private-keyfile, --ecdsa-private-keyfile');
      const key = shared
        ? { sharedSecret: shared }
        : o.rsaPrivateKeyfile
          ? { rsaPrivateKeyPem: await fsp.readFile(o.rsaPrivateKeyfile, 'utf8') }
          : { ecdsaPrivateKeyPem: await fsp.readFile(o.ecdsaPrivateKeyfile!, 'utf8') };
      const jwt = await generateToken({ claims, issuer: o.issuer!, key, durationSec });
      if (o.output) await fsp.writeFile(o.output, jwt + '\n', { mode: 0o600 });
      else process.stdout.write(jwt + '\n');
    });
}
