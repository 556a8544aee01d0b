import { SERVE_OPTIONS } from './options.js';
import { DCOS_OPTIONS } from '../secrets/dcos/config.js';

/** The configuration reference as a Markdown table (README and docs embed it; a test keeps them equal). */
export function configReferenceMarkdown(): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const rows = [
    '| flag | environment | default | meaning |',
    '|---|---|---|---|',
    ...SERVE_OPTIONS.map((o) => `| \`${o.flag}\` | ${o.env.map((e) => `\`${e}\``).join(', ')} | ${esc(o.defaultText)} | ${esc(o.description)} |`),
    ...DCOS_OPTIONS.map(
      (o) =>
        `| ${o.flag ? `\`${o.flag}${o.arg ? ` ${o.arg}` : ''}\`` : '—'} | ${o.env ? `\`${o.env}\`` : '—'} | ${o.default ?? '(none)'} | ${esc(o.description)} |`,
    ),
  ];
  return rows.join('\n');
}
