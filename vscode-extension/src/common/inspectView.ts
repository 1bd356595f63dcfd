// `ckptlens inspect --format json` as a readable, read-only text document (scheme
// `ckptlens-inspect`): where the state_dict sits, hyper-parameters, and an aligned table of
// keys, shapes and dtypes.

import * as path from 'path';
import { EventEmitter, Uri } from 'vscode';
import type { Event, TextDocumentContentProvider } from 'vscode';
import { INSPECT_SCHEME } from './constants';

interface TensorInfo {
    shape?: unknown;
    dtype?: unknown;
    device?: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function formatBytes(size: number): string {
    const units = ['B', 'KB', 'MB', 'GB', 'TB'];
    let value = size;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
        value /= 1024;
        unit++;
    }
    return unit === 0 ? `${size} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatShape(shape: unknown): string {
    if (!Array.isArray(shape)) {
        return '?';
    }
    return `[${shape.map((d) => (typeof d === 'number' ? String(d) : '?')).join(', ')}]`;
}

function short(value: unknown, limit = 160): string {
    let text: string;
    try {
        text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
    } catch {
        text = String(value);
    }
    return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

/** Where the state_dict sits, as Python subscripts: `checkpoint["model"]["state_dict"]`. */
export function statePathText(statePath: unknown): string {
    if (!Array.isArray(statePath) || statePath.length === 0) {
        return 'the file itself is the state_dict';
    }
    return `checkpoint${statePath.map((k) => `[${JSON.stringify(k)}]`).join('')}`;
}

function alignedTable(rows: string[][]): string[] {
    const widths = rows[0].map((_, col) => Math.max(...rows.map((row) => row[col].length)));
    return rows.map((row) =>
        row
            .map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col])))
            .join('  ')
            .trimEnd(),
    );
}

export function renderInspect(report: unknown, checkpointPath: string): string {
    if (!isRecord(report)) {
        return `ckptlens inspect ${checkpointPath}: unexpected output\n`;
    }
    const tensors = isRecord(report.tensors) ? (report.tensors as Record<string, TensorInfo>) : {};
    const names = Object.keys(tensors);
    let parameters = 0;
    let allKnown = true;
    for (const info of Object.values(tensors)) {
        if (Array.isArray(info?.shape) && info.shape.every((d) => typeof d === 'number')) {
            parameters += info.shape.reduce((a, b) => a * b, 1);
        } else {
            allKnown = false;
        }
    }
    const out: string[] = [];
    const header: string[][] = [
        ['Checkpoint', typeof report.path === 'string' ? report.path : checkpointPath],
        [
            'Format',
            `${short(report.format ?? '?')}${typeof report.size === 'number' ? `  (${formatBytes(report.size)})` : ''}`,
        ],
        ['state_dict', statePathText(report.state_dict_path)],
        [
            'Tensors',
            `${names.length}${names.length > 0 ? `  (${parameters.toLocaleString('en-US')}${allKnown ? '' : '+'} values)` : ''}`,
        ],
    ];
    if (Array.isArray(report.entries) && report.entries.length > 0) {
        header.push(['Entries', report.entries.map((e) => short(e, 60)).join(', ')]);
    }
    if (Array.isArray(report.alternatives) && report.alternatives.length > 0) {
        header.push(['Also found', report.alternatives.map((a) => short(a, 80)).join(', ')]);
    }
    out.push(...alignedTable(header.map(([k, v]) => [`${k}:`, v])), '');
    out.push(...renderSafety(report.safety));
    if (isRecord(report.hyper_parameters) && Object.keys(report.hyper_parameters).length > 0) {
        out.push('Hyper-parameters');
        out.push(...alignedTable(Object.entries(report.hyper_parameters).map(([k, v]) => [`  ${k}:`, short(v)])), '');
    }
    if (isRecord(report.config) && Object.keys(report.config).length > 0) {
        out.push('config.json');
        out.push(...alignedTable(Object.entries(report.config).map(([k, v]) => [`  ${k}:`, short(v)])), '');
    }
    if (Array.isArray(report.notes) && report.notes.length > 0) {
        out.push('Notes', ...report.notes.map((n) => `  - ${short(n, 400)}`), '');
    }
    if (names.length > 0) {
        const rows = [['key', 'shape', 'dtype', 'device']];
        for (const name of names) {
            const info = tensors[name] ?? {};
            rows.push([name, formatShape(info.shape), short(info.dtype ?? '?'), short(info.device ?? '?')]);
        }
        const table = alignedTable(rows);
        out.push(table[0], '-'.repeat(Math.max(...table.map((l) => l.length))), ...table.slice(1), '');
    } else {
        out.push('No tensors found.', '');
    }
    return out.join('\n');
}

/** Control characters (a pickle names what it likes) shown as escapes, never as line breaks. */
export function visible(text: string): string {
    // eslint-disable-next-line no-control-regex
    return text.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
        const code = c.charCodeAt(0);
        return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
    });
}

const IMPORT_WORDS: Record<string, string> = {
    none: 'import runs no code',
    'runs-code': 'import runs code',
    unknown: 'unknown whether its import runs code',
};

/** The safety verdict (`"safety"` of `inspect --format json`): would
 * `torch.load(weights_only=True)` load the file, and if not, the globals outside torch's
 * allow-list (with what importing each is known to do) and the other reasons. */
export function renderSafety(safety: unknown): string[] {
    if (!isRecord(safety) || typeof safety.verdict !== 'string') {
        return [];
    }
    if (safety.verdict === 'safe') {
        return ['Safety:  safe (torch.load(weights_only=True) loads it)', ''];
    }
    const out = [
        `Safety:  ${short(visible(safety.verdict), 40)} (torch.load(weights_only=True) refuses it; weights_only=False imports and runs what it names: only for a file you trust)`,
    ];
    const globals = Array.isArray(safety.globals) ? safety.globals.map((g) => String(g)) : [];
    const imports = isRecord(safety.imports) ? safety.imports : {};
    if (globals.length > 0) {
        out.push('  Globals outside the allow-list:');
        const rows = globals.map((name) => {
            const effect = imports[name];
            return [
                `    ${short(visible(name), 200)}`,
                typeof effect === 'string' ? (IMPORT_WORDS[effect] ?? short(effect, 40)) : '',
            ];
        });
        out.push(...alignedTable(rows));
    }
    if (Array.isArray(safety.reasons) && safety.reasons.length > 0) {
        out.push(...safety.reasons.map((r) => `  - ${short(visible(String(r)), 400)}`));
    }
    out.push('');
    return out;
}

export function inspectUri(checkpointPath: string): Uri {
    return Uri.from({
        scheme: INSPECT_SCHEME,
        path: `/${path.basename(checkpointPath)} (ckptlens)`,
        query: encodeURIComponent(checkpointPath),
    });
}

/** Holds the rendered reports; VS Code shows them read-only. */
export class InspectContentProvider implements TextDocumentContentProvider {
    private readonly contents = new Map<string, string>();
    private readonly changed = new EventEmitter<Uri>();
    readonly onDidChange: Event<Uri> = this.changed.event;

    set(uri: Uri, text: string): void {
        this.contents.set(uri.toString(), text);
        this.changed.fire(uri);
    }

    provideTextDocumentContent(uri: Uri): string {
        return (
            this.contents.get(uri.toString()) ?? 'Run "ckptlens: Inspect Checkpoint" to see this checkpoint again.\n'
        );
    }

    dispose(): void {
        this.changed.dispose();
        this.contents.clear();
    }
}
