import { rmSync } from 'node:fs';
import { isAlive } from './dockerd.js';

/**
 * An e2e suite's afterAll that goes on past a failing step: what each step reports (an array of notes)
 * or why it failed is collected, and warned once at the end.
 */
export class Cleanup {
  readonly notes: string[] = [];

  constructor(private readonly title: string) {}

  async step(what: string, f: () => unknown): Promise<void> {
    try {
      const r = await f();
      if (Array.isArray(r)) this.notes.push(...(r as string[]));
    } catch (e) {
      this.notes.push(`${what}: ${(e as Error).message}`);
    }
  }

  /** Processes that should have ended with what was stopped. */
  alive(pids: Iterable<number>, what: string): void {
    for (const pid of pids) if (isAlive(pid)) this.notes.push(`pid ${pid} (${what}) is still alive`);
  }

  /** The suite's temp folder (data roots included), then the notes. */
  async finish(dir: string | undefined, what = 'temp dir'): Promise<void> {
    await this.step(what, () => dir && rmSync(dir, { recursive: true, force: true, maxRetries: 3 }));
    if (this.notes.length) console.warn(`[${this.title}] cleanup notes:\n  ${this.notes.join('\n  ')}`);
  }
}
