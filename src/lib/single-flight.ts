/**
 * Single-flight, the one copy: concurrent callers asking for the same key share one run, in the shape
 * of jose's remote key set. Every run gets a sequence number; a run is *current* while it is still the
 * one registered for its key, so a slow answer started before a `forget()` (an invalidation, a close)
 * can tell that it must not store what it found over something newer. Callers wait with their own
 * AbortSignal (`raceAbort`): one caller giving up never cancels the run the others still wait on.
 */

/** One run, as a caller sees it. */
export interface Flight<V> {
  readonly promise: Promise<V>;
  /** Increasing over all keys: a later run always has a larger number. */
  readonly seq: number;
  /** true when this call joined a run already under way, false when it started it. */
  readonly joined: boolean;
}

export class SingleFlight<V, K = string> {
  readonly #runs = new Map<K, { promise: Promise<V>; seq: number }>();
  #seq = 0;

  /**
   * Join the run under way for `key`, or start one with `start(seq)`. A synchronous throw becomes the
   * run's rejection. The run is forgotten as soon as it settles (after the handlers `start` chained),
   * and its rejection is never unhandled: a background run may have no waiter.
   */
  join(key: K, start: (seq: number) => Promise<V>): Flight<V> {
    const running = this.#runs.get(key);
    if (running) return { ...running, joined: true };
    const seq = ++this.#seq;
    let started: Promise<V>;
    try {
      started = start(seq);
    } catch (e) {
      started = Promise.reject(e);
    }
    const promise = started.finally(() => {
      if (this.#runs.get(key)?.seq === seq) this.#runs.delete(key);
    });
    promise.catch(() => {});
    this.#runs.set(key, { promise, seq });
    return { promise, seq, joined: false };
  }

  /** The run under way for `key`, if any (to decide before starting one). */
  running(key: K): Promise<V> | undefined {
    return this.#runs.get(key)?.promise;
  }

  /** The sequence guard: run `seq` is still the one registered for `key` (not forgotten, not replaced). */
  isCurrent(key: K, seq: number): boolean {
    return this.#runs.get(key)?.seq === seq;
  }

  /** Later calls start a new run; the forgotten one keeps going for its waiters but is no longer current. */
  forget(key: K): boolean {
    return this.#runs.delete(key);
  }

  /** forget() every key. */
  clear(): void {
    this.#runs.clear();
  }

  get size(): number {
    return this.#runs.size;
  }
}

/** Settle with `p`, or reject with `onAbort(reason)` as soon as `signal` aborts (`p` keeps running for others). */
export function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined, onAbort: (reason: unknown) => Error): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(onAbort(signal.reason));
  }
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => reject(onAbort(signal.reason));
    signal.addEventListener('abort', abort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', abort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(e);
      },
    );
  });
}
