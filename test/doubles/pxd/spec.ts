/**
 * pxd's inline-spec parsing (openstorage api/spec/spec_handler.go) and the option validation that
 * decides Create's errors. Each key is found with its OWN unanchored regex over the whole Name; the
 * leftmost match wins; `,` only separates because the value classes exclude it.
 *
 * Only a subset of pxd's ~60 keys is modelled (listed in NAME_KEYS / validated in applyOpt); the rest are
 * stored verbatim in `spec` (known keys) or `labels` (unknown -o keys), as pxd does.
 */

// The regexes, transcribed from spec_handler.go (Go RE2 `[A-Za-z0-9-_=]` is alnum plus `-`, `_`, `=`).
export const NAME_RE = /name=([0-9A-Za-z_-]+)/;
export const TOKEN_RE = /token=([A-Za-z0-9_=-]+\.[A-Za-z0-9_=-]+\.?[A-Za-z0-9_.+/=-]+)/;
// No `-` and no `.` in the secret path classes: `token_secret=pwx/secrets/user1-token` yields `pwx/secrets/user1`.
export const TOKEN_SECRET_RE = /token_secret=\/*([0-9A-Za-z_/]+)/;
export const TOKEN_SECRET_NAMESPACE_RE = /token_secret_namespace=\/*([0-9A-Za-z_/]+)/;

/** Name keys extracted by SpecOptsFromString (the modelled subset), in pxd's order. */
const NAME_KEYS: Array<[string, RegExp]> = [
  ['size', /size=([0-9A-Za-z]+)/],
  ['nodes', /nodes=([A-Za-z0-9_;-]+)/],
  ['parent', /parent=([A-Za-z]+)/],
  ['scale', /scale=([0-9]+)/],
  ['fs', /fs=([0-9A-Za-z]+)/],
  ['block_size', /block_size=([0-9]+)/],
  ['queue_depth', /queue_depth=([0-9]+)/],
  ['repl', /repl=([0-9]+)/],
  ['io_priority', /io_priority=([A-Za-z]+)/],
  ['shared', /shared=([A-Za-z]+)/],
  ['journal', /journal=([A-Za-z]+)/],
  ['sharedv4', /sharedv4=([A-Za-z]+)/],
  ['cascaded', /cascaded=([A-Za-z]+)/],
  ['sticky', /sticky=([A-Za-z]+)/],
  ['secure', /secure=([A-Za-z]+)/],
  ['secret_key', /secret_key=([0-9A-Za-z_@./#&+-]+)/],
  ['zones', /zones=([A-Za-z]+)/],
  // racks / rack handled specially below (rack only when racks is absent)
  ['aggregation_level', /aggregation_level=([0-9]+|auto)/],
  ['compressed', /compressed=([A-Za-z]+)/],
  ['snap_schedule', /snap_schedule=([A-Za-z0-9:;@=#]+)/],
  ['io_profile', /io_profile=([0-9A-Za-z_-]+)/],
  ['mount_options', /mount_options=([A-Za-z0-9:;@=#]+)/],
  ['storagepolicy', /storagepolicy=([0-9A-Za-z_-]+)/],
];

/** Keys that pxd's UpdateSpecFromOpts knows (everything else from -o becomes a volume label). */
const KNOWN_SPEC_KEYS = new Set([
  'nodes',
  'parent',
  'ephemeral',
  'shared',
  'journal',
  'sharedv4',
  'cascaded',
  'sticky',
  'secure',
  'compressed',
  'size',
  'scale',
  'fs',
  'block_size',
  'queue_depth',
  'repl',
  'io_priority',
  'priority_io',
  'snap_interval',
  'snap_schedule',
  'aggregation_level',
  'dedupe',
  'secret_key',
  'group',
  'fg',
  'io_profile',
  'nearsync',
  'nearsync_replication_strategy',
  'async_io',
  'early_ack',
  'export',
  'export_options',
  'mount_options',
  'createoptions',
  'sharedv4_mount_options',
  'proxy_endpoint',
  'proxy_nfs_subpath',
  'proxy_nfs_exportpath',
  'force_unsupported_fs_type',
  'nodiscard',
  'storagepolicy',
  'cow_ondemand',
  'direct_io',
  'scan_policy_trigger',
  'scan_policy_action',
  'proxy_write',
  'sharedv4_svc_type',
  'sharedv4_svc_name',
  'sharedv4_failover_strategy',
  'sharedv4_external_access',
  'fastpath',
  'auto_fstrim',
  'backend',
  'pure_vol_name',
  'pure_export_rules',
  'pure_nfs_endpoint',
  'pure_fa_pod_name',
  'io_throttle_rd_iops',
  'io_throttle_wr_iops',
  'io_throttle_rd_bw',
  'io_throttle_wr_bw',
  'readahead',
  'winshare',
]);

const BOOL_KEYS = new Set([
  'shared',
  'journal',
  'sharedv4',
  'cascaded',
  'sticky',
  'secure',
  'compressed',
  'fg',
  'nearsync',
  'early_ack',
  'async_io',
  'force_unsupported_fs_type',
  'nodiscard',
  'cow_ondemand',
  'direct_io',
  'proxy_write',
  'fastpath',
  'winshare',
  'auto_fstrim',
  'readahead',
  'sharedv4_external_access',
]);

const FS_TYPES = new Set(['NONE', 'BTRFS', 'EXT4', 'FUSE', 'NFS', 'VFS', 'XFS', 'ZFS']); // XFSv2 unreachable (Go ToUpper bug)
const IO_PROFILES = new Set(['SEQUENTIAL', 'RANDOM', 'DB', 'DB_REMOTE', 'CMS', 'SYNC_SHARED', 'AUTO', 'NONE', 'JOURNAL', 'AUTO_JOURNAL']);

/** Go's leftmost-match getVal: the first capture group of the first match, if any. */
export function getVal(re: RegExp, s: string): string | undefined {
  const m = re.exec(s);
  return m ? m[1] : undefined;
}

/** Go's strconv.Quote, close enough for error messages (JSON escaping; differs only for exotic runes). */
function goStrconvQuote(s: string): string {
  return JSON.stringify(s);
}

/** strconv.ParseInt(s, 10, 64). */
export function parseGoInt(s: string): bigint {
  if (!/^[+-]?[0-9]+$/.test(s)) throw new Error(`strconv.ParseInt: parsing ${goStrconvQuote(s)}: invalid syntax`);
  const v = BigInt(s);
  if (v > 9223372036854775807n || v < -9223372036854775808n) {
    throw new Error(`strconv.ParseInt: parsing ${goStrconvQuote(s)}: value out of range`);
  }
  return v;
}

/** strconv.ParseBool. */
export function parseGoBool(s: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  throw new Error(`strconv.ParseBool: parsing ${goStrconvQuote(s)}: invalid syntax`);
}

const UNIT: Record<string, number> = (() => {
  const KiB = 1024,
    MiB = KiB * 1024,
    GiB = MiB * 1024,
    TiB = GiB * 1024,
    PiB = TiB * 1024;
  return {
    B: 1,
    b: 1,
    KB: KiB,
    kb: KiB,
    MB: MiB,
    mb: MiB,
    GB: GiB,
    gb: GiB,
    TB: TiB,
    tb: TiB,
    PB: PiB,
    pb: PiB,
    K: KiB,
    k: KiB,
    M: MiB,
    m: MiB,
    G: GiB,
    g: GiB,
    T: TiB,
    t: TiB,
    P: PiB,
    p: PiB,
    KiB,
    MiB,
    GiB,
    TiB,
    PiB,
    Mi: MiB,
    Gi: GiB,
    Ti: TiB,
    Pi: PiB,
  };
})();
const UNIT_ALT = 'B|b|K|k|M|m|G|g|T|t|P|p|KB|kb|KiB|MB|mb|MiB|Mi|GB|gb|GiB|Gi|TB|tb|TiB|Ti|PB|pb|PiB|Pi|';

/**
 * openstorage pkg/units.Parse. Quirks kept: a bare number means GiB (`1` = 1 GiB), a fraction is dropped
 * (`1.5G` = 1 GiB), `1G` = 1073741824.
 */
export function parseUnits(input: string): number {
  const u = input.trim();
  // Go: the leftmost-longest match must equal the whole (trimmed) string ⇔ the anchored pattern matches.
  const full = new RegExp(`^([0-9]+)((?:.[0-9]+)*)\\s*(${UNIT_ALT})$`).exec(u);
  if (!full) {
    const any = new RegExp(`([0-9]+)((?:.[0-9]+)*)\\s*(${UNIT_ALT})`).exec(u);
    if (!any) throw new Error(`Unit parse error: ${input}`);
    // Approximate: Go prints its leftmost-longest submatches here.
    throw new Error(`Unit parse error: invalid fields [${any[0]} ${any[1]} ${any[2] ?? ''} ${any[3] ?? ''}]`);
  }
  const base = BigInt(full[1] as string);
  if (base > 9223372036854775807n) throw new Error('Invalid number');
  const mult = UNIT[full[3] as string] ?? (UNIT.G as number);
  return Number(base) * mult;
}

export interface ParsedSpec {
  /** option strings as pxd understood them (after validation) */
  spec: Record<string, string>;
  labels: Record<string, string>;
  size: number;
  haLevel: number;
  shared: boolean;
  parent: string;
}

/**
 * SpecFromOpts / UpdateSpecFromOpts: DefaultSpec (HaLevel 1) updated with each option. Throws with pxd's
 * error text on the first invalid option. Go iterates the map in random order, so with several bad options
 * the reported one is random in pxd; here it is the first in request order.
 */
export function specFromOpts(opts: Record<string, string> | null | undefined): ParsedSpec {
  const out: ParsedSpec = { spec: {}, labels: {}, size: 0, haLevel: 1, shared: false, parent: '' };
  for (const [k, v] of Object.entries(opts ?? {})) {
    if (k === 'token') continue; // skipped by pxd so it does not become a label
    if (k === 'zones' || k === 'racks') {
      out.labels[k] = v;
      continue;
    }
    if (k === 'rack') {
      out.labels.racks = v;
      continue;
    }
    if (k === 'labels') {
      // parser.LabelsFromString: "k=v,k2=v2" (simplified)
      for (const pair of v.split(',')) {
        if (!pair) continue;
        const eq = pair.indexOf('=');
        if (eq < 0) throw new Error(`Invalid label ${pair}`);
        out.labels[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
      }
      continue;
    }
    if (!KNOWN_SPEC_KEYS.has(k)) {
      // Unknown -o keys become volume labels — including `token_secret` (pxd never removes it).
      out.labels[k] = v;
      continue;
    }
    switch (k) {
      case 'size':
        out.size = parseUnits(v);
        break;
      case 'block_size':
        parseUnits(v);
        break;
      case 'repl':
        try {
          out.haLevel = Number(parseGoInt(v));
        } catch (e) {
          throw new Error(`incorrect ha level (${v}) provided: ${(e as Error).message}`);
        }
        break;
      case 'queue_depth':
        parseGoInt(v);
        break;
      case 'fs':
        if (!FS_TYPES.has(v.toUpperCase())) throw new Error(`no openstorage.FS_TYPE for ${v}`);
        break;
      case 'io_profile':
        if (!IO_PROFILES.has(v.toUpperCase())) throw new Error(`no openstorage.IO_PROFILE for ${v}`);
        break;
      case 'io_priority':
      case 'priority_io':
        if (!['high', '3', 'medium', '2', 'low', '1', ''].includes(v.toLowerCase())) {
          throw new Error('Cos must be one of "high" | "medium" | "low"');
        }
        break;
      case 'parent':
        out.parent = v;
        break;
      default:
        if (BOOL_KEYS.has(k)) {
          const b = parseGoBool(v);
          if (k === 'shared') out.shared = b;
        }
    }
    out.spec[k] = v;
  }
  return out;
}

export interface NameParse {
  /** pxd's `specParsed`: the Name had `name=` AND its inline options validated */
  parsed: boolean;
  /** the volume name: the `name=` capture if present (even when validation failed), else the whole Name */
  name: string;
  /** the inline spec when parsed */
  spec?: ParsedSpec;
}

/**
 * SpecFromString. Quirk kept: when the Name has `name=` but an inline option fails validation (e.g.
 * `size=abc`), pxd returns parsed=false WITH the short name — so Create then falls back to Opts, and Get
 * answers the short name.
 */
export function specFromString(str: string): NameParse {
  const name = getVal(NAME_RE, str);
  if (name === undefined) return { parsed: false, name: str };
  const opts: Record<string, string> = {};
  for (const [key, re] of NAME_KEYS) {
    const v = getVal(re, str);
    if (v === undefined) continue;
    opts[key] = key === 'nodes' ? v.replace(/;/g, ',') : v;
  }
  const racks = getVal(/racks=([A-Za-z]+)/, str);
  if (racks !== undefined) opts.racks = racks;
  else {
    const rack = getVal(/rack=([A-Za-z]+)/, str);
    if (rack !== undefined) opts.rack = rack;
  }
  try {
    return { parsed: true, name, spec: specFromOpts(opts) };
  } catch {
    return { parsed: false, name };
  }
}

export interface TokenSecretContext {
  secretName: string;
  secretNamespace: string;
}

/** GetTokenSecretContextFromString: leading `/` dropped by the regex, trailing `/` trimmed from the name only. */
export function tokenSecretFromString(str: string): TokenSecretContext | undefined {
  const m = TOKEN_SECRET_RE.exec(str);
  if (!m) return undefined;
  const secretName = (m[1] as string).replace(/\/+$/, '');
  const secretNamespace = getVal(TOKEN_SECRET_NAMESPACE_RE, str) ?? '';
  return { secretName, secretNamespace };
}
