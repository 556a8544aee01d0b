/**
 * Value-level redaction for logs and error texts. A field path cannot catch `token=eyJ...` inside a
 * volume name or a backend's error text: every string that may carry user or backend data goes through
 * `scrub` before it reaches a log line or a reply.
 *
 * The rule itself (what is secret) lives in src/redact.ts, the one place shared with the volume names
 * of the state file, List and messages: these are its names for the logging side.
 */
export { redact as scrub, redactDeep as scrubDeep } from '../redact.js';
