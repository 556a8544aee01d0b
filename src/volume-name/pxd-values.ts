/**
 * What pxd can read back from an option written inside a Name. pxd finds each key with its own
 * unanchored regex over the whole Name (pxd.md, "The inline spec in the Name"), so a value with a
 * character outside its key's class is silently cut short there (`zones=us-east-1a` reads `us`),
 * and a key that ends another key's name is found inside that one when it comes later
 * (`block_size=4096,size=10G` reads size 4096).
 *
 * The value classes are those of openstorage's api/spec/spec_handler.go for the keys it reads from
 * a Name (pxd.md names the keys; the classes were read from that source, as for the pxd double).
 * Keys not listed here are not read from a Name by pxd at all.
 */
import { ProxyError } from '../errors.js';

const PXD_VALUE_CLASSES: ReadonlyMap<string, RegExp> = new Map([
  ['size', /^[0-9A-Za-z]+$/],
  ['nodes', /^[A-Za-z0-9_;-]+$/],
  ['parent', /^[A-Za-z]+$/],
  ['scale', /^[0-9]+$/],
  ['fs', /^[0-9A-Za-z]+$/],
  ['block_size', /^[0-9]+$/],
  ['queue_depth', /^[0-9]+$/],
  ['repl', /^[0-9]+$/],
  ['io_priority', /^[A-Za-z]+$/],
  ['shared', /^[A-Za-z]+$/],
  ['journal', /^[A-Za-z]+$/],
  ['sharedv4', /^[A-Za-z]+$/],
  ['cascaded', /^[A-Za-z]+$/],
  ['sticky', /^[A-Za-z]+$/],
  ['secure', /^[A-Za-z]+$/],
  ['secret_key', /^[0-9A-Za-z_@./#&+-]+$/],
  ['zones', /^[A-Za-z]+$/],
  ['racks', /^[A-Za-z]+$/],
  ['rack', /^[A-Za-z]+$/],
  ['aggregation_level', /^(?:[0-9]+|auto)$/],
  ['compressed', /^[A-Za-z]+$/],
  ['snap_schedule', /^[A-Za-z0-9:;@=#]+$/],
  ['io_profile', /^[0-9A-Za-z_-]+$/],
  ['mount_options', /^[A-Za-z0-9:;@=#]+$/],
  ['storagepolicy', /^[0-9A-Za-z_-]+$/],
]);

/** The class a value must match, as text for messages (`[A-Za-z]+`). */
function shown(re: RegExp): string {
  return re.source.replace(/^\^(?:\(\?:)?/, '').replace(/\)?\$$/, '');
}

/**
 * Refuse an option pxd would read differently from a Name. `from` says where the option came from,
 * for the message. Values are never quoted (secret_key holds an encryption passphrase).
 */
export function assertReadableByPxd(options: Iterable<readonly [string, string]>, from: 'name' | 'opts'): void {
  for (const [key, value] of options) {
    const cls = PXD_VALUE_CLASSES.get(key);
    if (!cls || cls.test(value)) continue;
    const where = from === 'opts' ? `-o ${key}` : `${key}= in the volume name`;
    const hint =
      from === 'opts'
        ? 'pxd ignores -o options once the name has name=, so the proxy moves them into it; give the volume a plain name (--name vol1 -o token_secret=...) to pass this one as an option'
        : 'pass it with -o and a plain volume name instead';
    throw new ProxyError(
      from === 'opts' ? 'OPTS_INVALID' : 'NAME_UNSUPPORTED',
      `${where}: pxd reads ${key} inside a volume name as ${shown(cls)} and would cut this value short; ${hint}`,
    );
  }
}

/**
 * Options in an order in which pxd finds each key at its own place: a key that ends another key's
 * name (size, block_size) goes first. Shorter keys first does that; otherwise the order is kept.
 */
export function pxdReadableOrder<T extends readonly [string, string]>(options: readonly T[]): T[] {
  return [...options].sort((a, b) => a[0].length - b[0].length);
}
