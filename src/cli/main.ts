#!/usr/bin/env node
import { Command, Option } from 'commander';
import { SERVE_OPTIONS } from '../config/options.js';
import { DCOS_OPTIONS } from '../secrets/dcos/config.js';
import { resolveConfig, runServe } from './serve.js';
import { runDoctor } from './doctor.js';
import { registerTokenCommands } from './token.js';

const program = new Command();
program
  .name('pxd-auth-proxy')
  .description(
    'A Docker volume plugin (driver name pxd-auth) in front of Portworx pxd: resolves token_secret references, ' +
      'verifies tokens and policy, and forwards to pxd with the token where pxd expects it.',
  )
  .version('0.1.0')
  .showHelpAfterError();

/** Every serve option with its environment names in the help text, from the one option table. */
function addServeOptions(cmd: Command): Command {
  for (const o of SERVE_OPTIONS) {
    const opt = new Option(o.flag, `${o.description} [env ${o.env.join(', ')}] (default: ${o.defaultText})`);
    cmd.addOption(opt);
  }
  for (const o of DCOS_OPTIONS) {
    if (!o.flag) continue; // environment-only settings (passwords) are listed in the README
    const env = o.env ? ` [env ${o.env}]` : '';
    const def = o.default !== null && o.default !== undefined ? ` (default: ${o.default})` : '';
    cmd.addOption(new Option(o.arg ? `${o.flag} ${o.arg}` : o.flag, `${o.description}${env}${def}`));
  }
  return cmd;
}

const serve = addServeOptions(
  program
    .command('serve', { isDefault: true })
    .description('run the plugin (the default command)')
    .action(async (flags: Record<string, unknown>) => {
      process.exitCode = await runServe(flags);
    }),
);
// `serve` is the default command, so the top-level help shows its options too.
program.addHelpText('after', () => `\n${serve.helpInformation()}`);

registerTokenCommands(program, addServeOptions);

addServeOptions(
  program
    .command('doctor')
    .description('check this node: configuration, keys, plugin socket, backend, DC/OS login, clock skew, base path (exit 1 on any failure)'),
).action(async (flags: Record<string, unknown>) => {
  const { config, problems } = await resolveConfig(flags);
  const checks = await runDoctor({ config, problems });
  for (const c of checks) {
    process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(24)} ${c.detail}\n`);
    if (!c.ok && c.fix) process.stdout.write(`     ${''.padEnd(24)} fix: ${c.fix}\n`);
  }
  const failed = checks.filter((c) => !c.ok).length;
  process.stdout.write(failed ? `\n${failed} check(s) failed\n` : '\nall checks passed\n');
  process.exitCode = failed ? 1 : 0;
});

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`pxd-auth-proxy: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
