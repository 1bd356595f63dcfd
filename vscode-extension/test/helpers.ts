// Fakes shared by the tests: configuration sections, documents, editors, and a one-line way
// to stub a function of the vscodeapi wrapper (restored after each test by `mock.restoreAll()`).

import { mock } from 'node:test';
import type * as vscode from 'vscode';
import * as api from '../src/common/vscodeapi';
import { EndOfLine, Position, Range, Selection, Uri } from './vscode';

type Api = typeof api;
type AnyFn = (...args: never[]) => unknown;

/** Replaces `vscodeapi[name]` with `impl` (any signature-compatible function) for this test. */
export function stubApi<K extends keyof Api>(name: K, impl: AnyFn): ReturnType<typeof mock.fn> {
    return mock.method(api, name, impl as unknown as Api[K]);
}

export interface InspectValues {
    globalValue?: unknown;
    workspaceValue?: unknown;
    workspaceFolderValue?: unknown;
}

/** A `ckptlens` section: `values` by key (dotted keys as VS Code accepts them), `inspect` per key. */
export function fakeConfiguration(
    values: Record<string, unknown> = {},
    inspected: Record<string, InspectValues> = {},
): vscode.WorkspaceConfiguration {
    return {
        get: (key: string) => values[key],
        has: (key: string) => key in values,
        inspect: (key: string) => ({ key, ...(inspected[key] ?? {}) }),
        update: () => Promise.resolve(),
    } as unknown as vscode.WorkspaceConfiguration;
}

/** What tests read back from a fake document. */
export interface FakeDocument {
    text: string;
    saved: number;
}

export function fakeDocument(text: string, fsPath: string, languageId = 'python'): vscode.TextDocument & FakeDocument {
    const lines = () => document.text.split(/\r?\n/);
    const document = {
        uri: Uri.file(fsPath),
        languageId,
        eol: text.includes('\r\n') ? EndOfLine.CRLF : EndOfLine.LF,
        text,
        saved: 0,
        getText: () => document.text,
        get lineCount() {
            return lines().length;
        },
        lineAt: (line: number) => {
            const content = lines()[line];
            return { text: content, range: new Range(line, 0, line, content.length) };
        },
        save: () => {
            document.saved++;
            return Promise.resolve(true);
        },
    };
    return document as unknown as vscode.TextDocument & FakeDocument;
}

export function fakeEditor(document: vscode.TextDocument, line: number, character = 0): vscode.TextEditor {
    return {
        document,
        selection: new Selection(new Position(line, character), new Position(line, character)),
    } as unknown as vscode.TextEditor;
}

export function folder(fsPath: string, index = 0): vscode.WorkspaceFolder {
    return {
        uri: Uri.file(fsPath),
        name: fsPath.split('/').pop() ?? fsPath,
        index,
    } as unknown as vscode.WorkspaceFolder;
}

/** A quick pick stub answering each call with `choose(items)` in turn. */
export function scriptedQuickPick(...answers: ((items: readonly vscode.QuickPickItem[]) => unknown)[]) {
    let call = 0;
    return (items: readonly vscode.QuickPickItem[]) => {
        const answer = answers[call++];
        if (!answer) {
            throw new Error(`unexpected quick pick #${call}: ${items.map((i) => i.label).join(' | ')}`);
        }
        return Promise.resolve(answer(items));
    };
}

export function byLabel(fragment: string) {
    return (items: readonly vscode.QuickPickItem[]) => {
        const item = items.find((i) => i.label.includes(fragment));
        if (!item) {
            throw new Error(`no quick pick item with "${fragment}": ${items.map((i) => i.label).join(' | ')}`);
        }
        return item;
    };
}
