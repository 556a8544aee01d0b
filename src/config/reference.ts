import { OPTIONS } from './options.js';

/** The configuration reference as a Markdown table (README and docs embed it; a test keeps them equal). */
export function configReferenceMarkdown(): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const code = (names: readonly string[]) => (names.length ? names.map((n) => `\`${n}\``).join(', ') : '—');
  const rows = [
    '| flag | environment | YAML key | default | meaning |',
    '|---|---|---|---|---|',
    ...OPTIONS.map(
      (o) => `| ${code(o.flag ? [o.flag] : [])} | ${code(o.env)} | ${code(o.yaml)} | ${esc(o.defaultText)} | ${esc(o.description)} |`,
    ),
  ];
  return rows.join('\n');
}
