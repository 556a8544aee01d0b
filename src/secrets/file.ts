import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ProxyError } from '../errors.js';
import { textValue } from './text.js';
import type { SecretRead, SecretStore } from './types.js';

/**
 * A folder of secrets: the secret `pwx/secrets/user1-token` is the file `<dir>/pwx/secrets/user1-token`.
 * Meant for the embedded default and for hosts that keep tokens on disk (mounted from a vault agent,
 * for example). Paths arrive already validated (no `..`, no empty segment); the resolved file is still
 * checked to stay inside the folder, symlinks included.
 */
export class FileSecretStore implements SecretStore {
  readonly description: string;
  private readonly root: string;

  constructor(dir: string) {
    this.root = path.resolve(dir);
    this.description = `file:${this.root}`;
  }

  async read(secretPath: string): Promise<SecretRead> {
    const file = path.resolve(this.root, secretPath);
    if (!file.startsWith(this.root + path.sep)) {
      throw new ProxyError('SECRET_NOT_FOUND', `secret ${secretPath} is outside ${this.root}`, { secretPath });
    }
    let real: string;
    let buf: Buffer;
    try {
      real = await fsp.realpath(file);
      const rootReal = await fsp.realpath(this.root);
      if (!real.startsWith(rootReal + path.sep)) {
        throw new ProxyError('SECRET_NOT_FOUND', `secret ${secretPath} resolves outside ${this.root}`, { secretPath });
      }
      const st = await fsp.stat(real);
      if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
      if (st.size > 1024 * 1024) throw new ProxyError('SECRET_NOT_TEXT', `secret ${secretPath} is larger than 1 MiB: not a token`, { secretPath });
      buf = await fsp.readFile(real);
    } catch (e) {
      if (e instanceof ProxyError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') {
        throw new ProxyError('SECRET_NOT_FOUND', `secret ${secretPath} was not found (no file ${file})`, { secretPath });
      }
      if (code === 'EACCES' || code === 'EPERM') {
        throw new ProxyError('SECRET_FORBIDDEN', `the proxy may not read secret ${secretPath}: grant read on ${file}`, { secretPath });
      }
      throw new ProxyError('SECRET_STORE_UNAVAILABLE', `secret ${secretPath} could not be read (${code ?? 'error'})`, { secretPath });
    }
    return { value: textValue(buf, secretPath) };
  }

  async ready(): Promise<boolean> {
    try {
      return (await fsp.stat(this.root)).isDirectory();
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {}
}
