/**
 * FleetConfig, the reader of the fleet document: what it builds and applies for each text it reads,
 * what it keeps when a read or a build fails, what it logs once, what it tells /readyz, and when it
 * reads next (the interval with ±10 % jitter; a failed read sooner).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { FleetConfig, type FleetConfigOptions } from '../../../src/config/fleet.js';
import type { Config, FleetDocument, LoadResult } from '../../../src/config/load.js';

const PATH = 'pxd-auth-proxy/fleet';
const version = (t: string) => createHash('sha256').update(t).digest('hex').slice(0, 12);

interface Harness {
  fleet: FleetConfig;
  /** What the next reads return: a text, undefined (404), or an Error thrown. */
  next: { value: string | undefined | Error };
  reads: number;
  built: Array<FleetDocument | undefined>;
  applied: Array<Readonly<Config>>;
  logs: Array<{ level: string; obj: Record<string, unknown>; msg: string }>;
  clock: { ms: number };
}

function harness(o: Partial<FleetConfigOptions> = {}): Harness {
  const h = { next: { value: undefined }, reads: 0, built: [], applied: [], logs: [], clock: { ms: Date.UTC(2030, 0, 1) } } as Omit<
    Harness,
    'fleet'
  >;
  const log =
    (level: string) =>
    (obj: object, msg?: string): void =>
      void h.logs.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? '' });
  const fleet = new FleetConfig({
    path: PATH,
    intervalSec: () => 60,
    read: async () => {
      h.reads++;
      if (h.next.value instanceof Error) throw h.next.value;
      return h.next.value;
    },
    // A document holding "broken" does not build; anything else does.
    build: (doc): LoadResult => {
      h.built.push(doc);
      if (doc?.text.includes('broken')) return { problems: [`${doc.name}: policy.strict: expected boolean`], issues: [] };
      return { config: { fleetDoc: doc?.text } as unknown as Config, problems: [], issues: [] };
    },
    apply: (c) => {
      h.applied.push(c);
      return [];
    },
    logger: { info: log('info'), warn: log('warn'), error: log('error'), debug: log('debug') },
    now: () => h.clock.ms,
    random: () => 0.5,
    ...o,
  });
  return Object.assign(h, { fleet });
}

afterEach(() => {
  vi.useRealTimers();
});

describe('FleetConfig', () => {
  it('builds and applies a new document, then nothing while its text stays the same', async () => {
    const h = harness();
    expect(h.fleet.status()).toMatchObject({ path: PATH, ok: false, state: 'pending' });
    h.next.value = 'policy: {strict: true}\n';
    await expect(h.fleet.refresh(false)).resolves.toMatchObject({ problems: [], config: { fleetDoc: 'policy: {strict: true}\n' } });
    expect(h.built).toEqual([{ name: `fleet document ${PATH}`, text: 'policy: {strict: true}\n' }]);
    expect(h.applied).toHaveLength(1);
    expect(h.fleet.status()).toEqual({
      path: PATH,
      ok: true,
      state: 'applied',
      version: version('policy: {strict: true}\n'),
      appliedAt: '2030-01-01T00:00:00.000Z',
      lastReadAt: '2030-01-01T00:00:00.000Z',
    });
    expect(h.logs.filter((l) => l.level === 'info')).toEqual([
      { level: 'info', obj: { fleetConfig: PATH, version: version('policy: {strict: true}\n') }, msg: 'fleet document applied' },
    ]);

    h.clock.ms += 60_000;
    await h.fleet.refresh(false);
    expect(h.reads).toBe(2);
    expect(h.built).toHaveLength(1);
    expect(h.fleet.status()).toMatchObject({ ok: true, lastReadAt: '2030-01-01T00:01:00.000Z', appliedAt: '2030-01-01T00:00:00.000Z' });
  });

  it('refuses a broken document: the running configuration stays, one error line, and the problem in the status', async () => {
    const h = harness();
    h.next.value = 'good';
    await h.fleet.refresh(false);
    h.clock.ms += 60_000;
    h.next.value = 'broken sharedSecret: do-not-log-me';
    const r = await h.fleet.refresh(false);
    expect(r).toEqual({ problems: [`fleet document ${PATH}: policy.strict: expected boolean`] });
    expect(h.applied).toHaveLength(1);
    const status = h.fleet.status();
    expect(status).toMatchObject({ ok: false, state: 'applied', version: version('good'), since: '2030-01-01T00:01:00.000Z' });
    expect(status.problem).toBe(
      `the fleet document ${PATH} (version ${version('broken sharedSecret: do-not-log-me')}) was refused: fleet document ${PATH}: policy.strict: expected boolean`,
    );
    const errors = h.logs.filter((l) => l.level === 'error');
    expect(errors).toEqual([
      {
        level: 'error',
        obj: { fleetConfig: PATH, version: version('broken sharedSecret: do-not-log-me'), problems: r.problems },
        msg: 'the fleet document was refused; the running configuration is kept',
      },
    ]);
    expect(JSON.stringify(h.logs)).not.toContain('do-not-log-me');

    // Read again, unchanged: tried again (a file it names may have appeared), not logged loudly again.
    h.clock.ms += 60_000;
    await h.fleet.refresh(false);
    expect(h.built).toHaveLength(3);
    expect(h.logs.filter((l) => l.level === 'error')).toHaveLength(1);
    expect(h.fleet.status().since).toBe('2030-01-01T00:01:00.000Z');

    // Put back: the document in force is the one read, nothing to apply.
    h.next.value = 'good';
    await h.fleet.refresh(false);
    expect(h.applied).toHaveLength(1);
    expect(h.fleet.status()).toMatchObject({ ok: true, state: 'applied' });
    expect(h.fleet.status().problem).toBeUndefined();
  });

  it('keeps the running configuration when the document cannot be read, and says so once', async () => {
    const h = harness();
    h.next.value = 'good';
    await h.fleet.refresh(false);
    h.next.value = new Error('DC/OS at https://master.mesos is unreachable (ECONNREFUSED during reading document x)');
    await h.fleet.refresh(false);
    await h.fleet.refresh(false);
    expect(h.applied).toHaveLength(1);
    expect(h.fleet.status()).toMatchObject({
      ok: false,
      state: 'applied',
      version: version('good'),
      problem: `cannot read the fleet document ${PATH}: DC/OS at https://master.mesos is unreachable (ECONNREFUSED during reading document x)`,
    });
    expect(h.logs.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      'the fleet document could not be read; the running configuration is kept',
    ]);
  });

  it("runs with the file's sections when there is no document, and goes back to them when it is deleted", async () => {
    const h = harness();
    await h.fleet.refresh(false);
    // The running configuration already has no document: nothing to build.
    expect(h.built).toEqual([]);
    expect(h.fleet.status()).toMatchObject({
      ok: false,
      state: 'absent',
      problem: `no document at ${PATH}: the YAML file's policy, issuers and volumeSecrets apply`,
    });
    expect(h.logs.filter((l) => l.level === 'warn')).toHaveLength(1);

    h.next.value = 'good';
    await h.fleet.refresh(false);
    expect(h.fleet.status()).toMatchObject({ ok: true, state: 'applied' });
    h.next.value = undefined;
    await h.fleet.refresh(false);
    expect(h.built.at(-1)).toBeUndefined();
    expect(h.applied).toHaveLength(2);
    expect(h.fleet.status()).toMatchObject({ state: 'absent' });
    expect(h.fleet.status().version).toBeUndefined();
  });

  it('SIGHUP (force) builds again with the document in force when the document cannot be read', async () => {
    const h = harness();
    h.next.value = 'good';
    await h.fleet.refresh(false);
    h.next.value = new Error('sealed');
    const r = await h.fleet.refresh(true);
    expect(r.problems).toEqual([]);
    expect(h.built.at(-1)).toEqual({ name: `fleet document ${PATH}`, text: 'good' });
    expect(h.applied).toHaveLength(2);
  });

  it('reads one at a time', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let inFlight = 0;
    let most = 0;
    const h = harness({
      read: async () => {
        most = Math.max(most, ++inFlight);
        await gate;
        inFlight--;
        return 'good';
      },
    });
    const all = Promise.all([h.fleet.refresh(false), h.fleet.refresh(true), h.fleet.refresh(false)]);
    release();
    await all;
    expect(most).toBe(1);
  });

  it('reads again after the interval ±10 %, and sooner after a failed read', async () => {
    vi.useFakeTimers({ now: Date.UTC(2030, 0, 1) });
    for (const [random, earliest] of [
      [0, 54_000],
      [0.999_999, 65_999],
    ] as const) {
      const h = harness({ random: () => random });
      h.next.value = 'good';
      await h.fleet.start(1_000);
      expect(h.reads).toBe(1);
      await vi.advanceTimersByTimeAsync(earliest - 1);
      expect(h.reads).toBe(1);
      await vi.advanceTimersByTimeAsync(2);
      expect(h.reads).toBe(2);
      h.fleet.stop();
    }
    const h = harness();
    h.next.value = new Error('down');
    await h.fleet.start(1_000);
    // 5 s, then 10 s, then 20 s... (±10 %; random 0.5 is the middle).
    await vi.advanceTimersByTimeAsync(5_001);
    expect(h.reads).toBe(2);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(h.reads).toBe(3);
    h.next.value = 'good';
    await vi.advanceTimersByTimeAsync(20_000);
    expect(h.reads).toBe(4);
    await vi.advanceTimersByTimeAsync(59_000);
    expect(h.reads).toBe(4);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(h.reads).toBe(5);
    h.fleet.stop();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(h.reads).toBe(5);
  });

  it('start() waits for the first read at most as long as told', async () => {
    vi.useFakeTimers({ now: Date.UTC(2030, 0, 1) });
    let release!: () => void;
    const h = harness({ read: () => new Promise((r) => (release = () => r('good'))) });
    let started = false;
    void h.fleet.start(5_000).then(() => (started = true));
    await vi.advanceTimersByTimeAsync(4_999);
    expect(started).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(started).toBe(true);
    expect(h.fleet.status().state).toBe('pending');
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.fleet.status()).toMatchObject({ ok: true, state: 'applied' });
    h.fleet.stop();
  });
});
