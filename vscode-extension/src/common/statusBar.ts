// The status bar item: how the active Python file's checkpoint links stand, from the
// diagnostics the server published for it (source "ckptlens").

import { DiagnosticSeverity } from 'vscode';
import type { Diagnostic, Disposable, StatusBarItem } from 'vscode';
import { COMMANDS, DIAGNOSTIC_SOURCE } from './constants';
import { diagnosticCode } from './middleware';
import type { ServerState } from './server';
import {
    createStatusBarItem,
    getActiveTextEditor,
    getDiagnostics,
    onDidChangeActiveTextEditor,
    onDidChangeDiagnostics,
} from './vscodeapi';

export interface StatusView {
    text: string;
    tooltip: string;
    command: string;
}

export const PROBLEMS_COMMAND = 'workbench.actions.view.problems';

/** Pure: what the item shows for a server state and the active file's diagnostics. */
export function computeStatus(state: ServerState, diagnostics: readonly Diagnostic[]): StatusView {
    switch (state) {
        case 'disabled':
            return {
                text: '$(circle-slash) ckptlens',
                tooltip: 'ckptlens is disabled (ckptlens.enable)',
                command: COMMANDS.showLog,
            };
        case 'starting':
            return {
                text: '$(sync~spin) ckptlens',
                tooltip: 'ckptlens: starting the server…',
                command: COMMANDS.showLog,
            };
        case 'failed':
        case 'stopped':
            return {
                text: '$(error) ckptlens',
                tooltip: 'The ckptlens server is not running. Click for its log.',
                command: COMMANDS.showLog,
            };
    }
    const ours = diagnostics.filter((d) => d.source === DIAGNOSTIC_SOURCE);
    const problems = ours.filter(
        (d) => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning,
    );
    const notes = ours.length - problems.length;
    const noteText = notes > 0 ? ` (${notes} note${notes === 1 ? '' : 's'})` : '';
    if (problems.length === 0) {
        return {
            text: '$(check) ckptlens',
            tooltip: `ckptlens: no checkpoint mismatch in this file${noteText}. Click for the log.`,
            command: notes > 0 ? PROBLEMS_COMMAND : COMMANDS.showLog,
        };
    }
    const byCode = new Map<string, number>();
    for (const d of problems) {
        const code = diagnosticCode(d) ?? 'finding';
        byCode.set(code, (byCode.get(code) ?? 0) + 1);
    }
    const summary = [...byCode.entries()].map(([code, n]) => `${n} ${code}`).join(', ');
    return {
        text: `$(warning) ckptlens ${problems.length}`,
        tooltip: `ckptlens: ${summary}${noteText}. Click to open the Problems view.`,
        command: PROBLEMS_COMMAND,
    };
}

export class CheckpointStatus implements Disposable {
    private readonly item: StatusBarItem;
    private readonly listeners: Disposable[];
    private state: ServerState = 'stopped';

    constructor() {
        this.item = createStatusBarItem('ckptlens.status', 100);
        this.item.name = 'ckptlens';
        this.listeners = [
            onDidChangeActiveTextEditor(() => this.update()),
            onDidChangeDiagnostics(() => this.update()),
        ];
        this.update();
    }

    setState(state: ServerState): void {
        this.state = state;
        this.update();
    }

    update(): void {
        const editor = getActiveTextEditor();
        if (!editor || editor.document.languageId !== 'python') {
            this.item.hide();
            return;
        }
        const view = computeStatus(this.state, getDiagnostics(editor.document.uri));
        this.item.text = view.text;
        this.item.tooltip = view.tooltip;
        this.item.command = view.command;
        this.item.show();
    }

    dispose(): void {
        for (const listener of this.listeners) {
            listener.dispose();
        }
        this.item.dispose();
    }
}
