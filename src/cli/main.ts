#!/usr/bin/env node
import { Command, Option } from 'commander';
import { OPTIONS } from '../config/options.js';
import { addServeOptions, runServe } from './serve.js';
import { registerDoctorCommand } from './doctor.js';
import { registerTokenCommands } from './token.js';

const program = new Command();
program
  .name('pxd-auth-proxy')
  .description(
    'A Docker volume plugin (driver name pxd-auth) in front of Portworx pxd: resolves token_secret references, ' +
      'verifies tokens and policy, and forwards to pxd with the token where pxd expects it.',
  )
  .version('0.1.0');

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

registerDoctorCommand(program, addServeOptions);

// The image's HEALTHCHECK: only the two options that locate the admin listener; loaded on demand.
const healthcheck = program
  .command('healthcheck')
  .description('ask the admin listener (found as serve finds it) for /healthz: exit 0 when it answers 200, 1 otherwise');
for (const o of OPTIONS) {
  if ((o.key === 'config' || o.key === 'adminListen') && o.flag)
    healthcheck.addOption(new Option(o.flag, `${o.description} [env ${o.env.join(', ')}]`));
}
healthcheck.action(async (flags: Record<string, unknown>) => {
  const { runHealthcheck } = await import('./healthcheck.js');
  process.exitCode = await runHealthcheck(flags);
});

/**
 * After a usage mistake: commander's message (with its "Did you mean" suggestion), then one line on
 * where the help is, not the help itself (about 100 lines that push the message off the screen).
 */
function pointToHelp(cmd: Command, words: string[]): void {
  // `serve` is the default command: its options are in the top-level help, where it is usually not named.
  const shown = cmd === serve ? [] : words;
  cmd.showSuggestionAfterError(true);
  cmd.showHelpAfterError(`Run '${[program.name(), ...shown, '--help'].join(' ')}' for the options.`);
  for (const sub of cmd.commands) pointToHelp(sub, [...words, sub.name()]);
}
pointToHelp(program, []);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`pxd-auth-proxy: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
