/**
 * redactName (state file, List, messages) follows the same rule as the logs' scrubber, including pxd's
 * encryption passphrase `secret_key=` wherever pxd's unanchored regex would find it.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { redactName } from '../../../src/volume-name/index.js';
import { scrub } from '../../../src/audit/scrub.js';

const NUM_RUNS = 300;

/** What pxd's passphraseRegex reads: secret_key=([0-9A-Za-z_@./#&+-]+). */
const PXD_PASSPHRASE_RE = /secret_key=([0-9A-Za-z_@./#&+-]+)/;
const passphrase = fc.stringMatching(/^[0-9A-Za-z_@./#&+-]{8,40}$/);
const keyChars = fc.stringMatching(/^[a-z0-9_]{0,8}$/);
const size = fc.stringMatching(/^[0-9]{1,4}$/);

describe('redactName and secret_key', () => {
  it('hides every passphrase pxd would read from a name, wherever the key is', () => {
    fc.assert(
      fc.property(keyChars, passphrase, size, fc.constantFrom('', ',', 'x', 'mount_options='), (prefix, pass, n, glue) => {
        const name = `name=v,${glue}${prefix}secret_key=${pass},size=${n}G`;
        // The value pxd takes for the passphrase (leftmost unanchored match) is the one hidden, whole.
        expect(PXD_PASSPHRASE_RE.exec(name)![1]).toBe(pass);
        expect(redactName(name)).toBe(`name=v,${glue}${prefix}secret_key=***,size=${n}G`);
        expect(redactName(name)).toBe(scrub(name));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("agrees with the logs' scrubber on any text", () => {
    const text = fc.array(
      fc.oneof(
        fc.constantFrom('token=', 'secret_key=', 'password=', 'name=', ',', ' ', '.', 'eyJ', '"', '&', ';', 'xsecret_key='),
        fc.string({ maxLength: 12 }),
        fc.stringMatching(/^[A-Za-z0-9_-]{16,24}$/),
      ),
      { maxLength: 12 },
    );
    fc.assert(
      fc.property(text, (parts) => {
        const s = parts.join('');
        expect(redactName(s)).toBe(scrub(s));
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
