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
