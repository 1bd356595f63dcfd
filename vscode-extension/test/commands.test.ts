import './setup';
import * as assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type * as vscode from 'vscode';
import type { ExecuteCommandSignature } from 'vscode-languageclient';
import { keyMappingArguments, onKeyMappingResult } from '../src/common/commands/generateKeyMapping';
import { linkCheckpoint } from '../src/common/commands/linkCheckpoint';
import { createMiddleware } from '../src/common/middleware';
import { byLabel, fakeDocument, fakeEditor, folder, scriptedQuickPick, stubApi } from './helpers';
import type { EditOperation, WorkspaceEdit } from './vscode';
import { Diagnostic, DiagnosticSeverity, Position, Range, Uri } from './vscode';

afterEach(() => mock.restoreAll());

const MODEL = [
    'import torch.nn as nn', // 0
    '', // 1
    'class Block(nn.Module):', // 2
    '    pass', // 3
    '', // 4
    '', // 5
    '@some.decorator', // 6
    'class Net(nn.Module):', // 7
    '    def __init__(self):', // 8
    '        super().__init__()', // 9
    '        self.layer_1 = nn.Linear(10, 20)', // 10
].join('\n');

function recordEdits() {
    const edits: EditOperation[][] = [];
    stubApi('applyEdit', (edit: WorkspaceEdit) => {
        edits.push(edit.operations);
        return Promise.resolve(true);
    });
    return edits;
}

describe('ckptlens.linkCheckpoint', () => {
    let document: ReturnType<typeof fakeDocument>;
    beforeEach(() => {
        document = fakeDocument(MODEL, '/ws/models/net.py');
        stubApi('getWorkspaceFolder', () => folder('/ws'));
        stubApi('findFiles', () => Promise.resolve([Uri.file('/ws/ckpts/net.pt'), Uri.file('/ws/ckpts/other.ckpt')]));
        stubApi('showWarningMessage', () => Promise.resolve(undefined));
    });

    it('writes `# ckptlens: checkpoint=<relative path>` on the line above the class (and its decorators)', async () => {
        stubApi('getActiveTextEditor', () => fakeEditor(document, 10));
        const quickPick = stubApi(
            'showQuickPick',
            scriptedQuickPick(byLabel('Net'), byLabel('net.pt'), byLabel('Directive comment')),
        );
        const edits = recordEdits();

        assert.equal(await linkCheckpoint(), true);

        assert.deepEqual(edits, [
            [
                {
                    kind: 'insert',
                    uri: document.uri,
                    position: new Position(6, 0),
                    text: '# ckptlens: checkpoint=../ckpts/net.pt\n',
                },
            ],
        ]);
        // the class under the cursor is offered first
        const classItems = quickPick.mock.calls[0].arguments[0] as vscode.QuickPickItem[];
        assert.deepEqual(
            classItems.map((i) => i.label),
            ['$(symbol-class) Net', '$(symbol-class) Block'],
        );
        const targets = quickPick.mock.calls[2].arguments[0] as vscode.QuickPickItem[];
        assert.equal(targets[0].detail, '# ckptlens: checkpoint=../ckpts/net.pt');
    });

    it('uses CRLF in a CRLF file and a checkpoint folder from the open dialog', async () => {
        document = fakeDocument(MODEL.replace(/\n/g, '\r\n'), '/ws/models/net.py');
        stubApi('getActiveTextEditor', () => fakeEditor(document, 3));
        stubApi(
            'showQuickPick',
            scriptedQuickPick(
                byLabel('Block'),
                byLabel('Browse for a checkpoint folder'),
                byLabel('Directive comment'),
            ),
        );
        const dialog = stubApi('showOpenDialog', () => Promise.resolve([Uri.file('/data/hf model')]));
        const edits = recordEdits();

        assert.equal(await linkCheckpoint(), true);

        const options = dialog.mock.calls[0].arguments[0] as vscode.OpenDialogOptions;
        assert.equal(options.canSelectFolders, true);
        assert.equal(options.canSelectFiles, false);
        assert.deepEqual(edits[0], [
            {
                kind: 'insert',
                uri: document.uri,
                position: new Position(2, 0),
                text: '# ckptlens: checkpoint="../../data/hf model"\r\n',
            },
        ]);
    });

    it('replaces an existing directive instead of adding a second one', async () => {
        document = fakeDocument('# ckptlens: checkpoint=old.pt init:hidden=3\nclass Only:\n    pass\n', '/ws/only.py');
        stubApi('getActiveTextEditor', () => fakeEditor(document, 0));
        // one class: no class picker
        stubApi('showQuickPick', scriptedQuickPick(byLabel('other.ckpt'), byLabel('Directive comment')));
        const edits = recordEdits();

        assert.equal(await linkCheckpoint(), true);

        assert.equal(edits[0].length, 1);
        const edit = edits[0][0] as Extract<EditOperation, { kind: 'replace' }>;
        assert.equal(edit.kind, 'replace');
        assert.deepEqual([edit.range.start, edit.range.end], [new Position(0, 0), new Position(0, 43)]);
        assert.equal(edit.text, '# ckptlens: checkpoint=ckpts/other.ckpt init:hidden=3');
    });

    it('appends a [[tool.ckptlens.link]] table to pyproject.toml and saves it', async () => {
        stubApi('getActiveTextEditor', () => fakeEditor(document, 10));
        stubApi('showQuickPick', scriptedQuickPick(byLabel('Net'), byLabel('net.pt'), byLabel('pyproject.toml')));
        stubApi('readFile', () => Promise.resolve('[project]\nname = "demo"\n'));
        const pyproject = fakeDocument('[project]\nname = "demo"\n', '/ws/pyproject.toml', 'toml');
        stubApi('openTextDocument', () => Promise.resolve(pyproject));
        stubApi('showInformationMessage', () => Promise.resolve(undefined));
        const edits = recordEdits();

        assert.equal(await linkCheckpoint(), true);

        assert.deepEqual(edits, [
            [
                {
                    kind: 'insert',
                    uri: pyproject.uri,
                    position: new Position(2, 0),
                    text: '\n[[tool.ckptlens.link]]\nclass = "models/net.py:Net"\ncheckpoint = "ckpts/net.pt"\n',
                },
            ],
        ]);
        assert.equal(pyproject.saved, 1);
    });

    it('creates pyproject.toml when the workspace has none', async () => {
        stubApi('getActiveTextEditor', () => fakeEditor(document, 10));
        stubApi('showQuickPick', scriptedQuickPick(byLabel('Net'), byLabel('net.pt'), byLabel('pyproject.toml')));
        stubApi('readFile', () => Promise.resolve(undefined));
        const created = fakeDocument('', '/ws/pyproject.toml', 'toml');
        stubApi('openTextDocument', () => Promise.resolve(created));
        stubApi('showInformationMessage', () => Promise.resolve(undefined));
        const edits = recordEdits();

        assert.equal(await linkCheckpoint(), true);

        assert.deepEqual(
            edits[0].map((e) => e.kind),
            ['createFile', 'insert'],
        );
        assert.equal(edits[0][0].uri.fsPath, '/ws/pyproject.toml');
        assert.equal(created.saved, 1);
    });

    it('stops when a picker is dismissed, without editing', async () => {
        stubApi('getActiveTextEditor', () => fakeEditor(document, 10));
        stubApi(
            'showQuickPick',
            scriptedQuickPick(byLabel('Net'), () => undefined),
        );
        const edits = recordEdits();
        assert.equal(await linkCheckpoint(), false);
        assert.deepEqual(edits, []);
    });

    it('asks for a Python file first', async () => {
        stubApi('getActiveTextEditor', () => fakeEditor(fakeDocument('{}', '/ws/a.json', 'json'), 0));
        const warning = stubApi('showWarningMessage', () => Promise.resolve(undefined));
        assert.equal(await linkCheckpoint(), false);
        assert.match(String(warning.mock.calls[0].arguments[0]), /open the Python file/);
    });
});

describe('ckptlens.generateKeyMapping', () => {
    function middlewareWithDefaults() {
        return createMiddleware({ severity: {}, keyMappingArguments, onKeyMappingResult });
    }

    it('runs the server command with the active document and the class under the cursor', async () => {
        const document = fakeDocument(MODEL, '/ws/models/net.py');
        stubApi('getActiveTextEditor', () => fakeEditor(document, 9));
        const next = mock.fn<ExecuteCommandSignature>(() => Promise.resolve(true));

        const result: unknown = await middlewareWithDefaults().executeCommand!('ckptlens.generateKeyMapping', [], next);

        assert.equal(result, true);
        assert.equal(next.mock.callCount(), 1);
        assert.deepEqual(next.mock.calls[0].arguments, [
            'ckptlens.generateKeyMapping',
            ['file:///ws/models/net.py', 'Net'],
        ]);
    });

    it('passes the arguments of the code lens through', async () => {
        const next = mock.fn<ExecuteCommandSignature>(() => Promise.resolve(true));
        await middlewareWithDefaults().executeCommand!('ckptlens.generateKeyMapping', ['file:///x.py', 'Other'], next);
        assert.deepEqual(next.mock.calls[0].arguments, ['ckptlens.generateKeyMapping', ['file:///x.py', 'Other']]);
    });

    it('lets other server commands through untouched', async () => {
        const next = mock.fn<ExecuteCommandSignature>(() => Promise.resolve('ok'));
        assert.equal(await middlewareWithDefaults().executeCommand!('other.command', [1], next), 'ok');
        assert.deepEqual(next.mock.calls[0].arguments, ['other.command', [1]]);
    });

    it('asks which class when the cursor is outside every class', async () => {
        const document = fakeDocument(MODEL, '/ws/models/net.py');
        stubApi('getActiveTextEditor', () => fakeEditor(document, 0));
        stubApi('showQuickPick', scriptedQuickPick(byLabel('Block')));
        assert.deepEqual(await keyMappingArguments(), ['file:///ws/models/net.py', 'Block']);
    });

    it('does not call the server without a Python editor', async () => {
        stubApi('getActiveTextEditor', () => undefined);
        const warning = stubApi('showWarningMessage', () => Promise.resolve(undefined));
        const next = mock.fn<ExecuteCommandSignature>(() => Promise.resolve(true));
        assert.equal(
            await middlewareWithDefaults().executeCommand!('ckptlens.generateKeyMapping', [], next),
            undefined,
        );
        assert.equal(next.mock.callCount(), 0);
        assert.equal(warning.mock.callCount(), 1);
    });

    it('says so when the server had nothing to map', async () => {
        const document = fakeDocument(MODEL, '/ws/models/net.py');
        stubApi('getActiveTextEditor', () => fakeEditor(document, 9));
        const info = stubApi('showInformationMessage', () => Promise.resolve(undefined));
        await middlewareWithDefaults().executeCommand!('ckptlens.generateKeyMapping', [], () => Promise.resolve(false));
        assert.match(String(info.mock.calls[0].arguments[0]), /no key mapping to generate for Net/);
    });
});

describe('middleware', () => {
    function diagnostic(code: string, severity: DiagnosticSeverity, source = 'ckptlens') {
        const d = new Diagnostic(new Range(0, 0, 0, 1), code, severity);
        d.code = code;
        d.source = source;
        return d;
    }

    it('applies ckptlens.severity to pushed and pulled ckptlens diagnostics only', async () => {
        const middleware = createMiddleware({
            severity: { 'unexpected-key': 'warning', 'key-prefix': 'hint' },
            keyMappingArguments: () => Promise.resolve(undefined),
            onKeyMappingResult: () => undefined,
        });
        const pushed = [
            diagnostic('unexpected-key', DiagnosticSeverity.Error),
            diagnostic('missing-key', DiagnosticSeverity.Error),
            diagnostic('unexpected-key', DiagnosticSeverity.Error, 'pylint'),
        ];
        let received: vscode.Diagnostic[] = [];
        middleware.handleDiagnostics!(
            Uri.file('/a.py') as unknown as vscode.Uri,
            pushed as unknown as vscode.Diagnostic[],
            (_u, d) => {
                received = d;
            },
        );
        assert.deepEqual(
            received.map((d) => d.severity),
            [DiagnosticSeverity.Warning, DiagnosticSeverity.Error, DiagnosticSeverity.Error],
        );

        const pulled = { kind: 'full', items: [diagnostic('key-prefix', DiagnosticSeverity.Error)] };
        const report = await middleware.provideDiagnostics!(
            Uri.file('/a.py') as unknown as vscode.Uri,
            undefined,
            {} as vscode.CancellationToken,
            () => Promise.resolve(pulled as never),
        );
        assert.equal((report as unknown as typeof pulled).items[0].severity, DiagnosticSeverity.Hint);
    });

    it('sends the server its settings without the client-only ones', async () => {
        const middleware = createMiddleware({
            severity: {},
            keyMappingArguments: () => Promise.resolve(undefined),
            onKeyMappingResult: () => undefined,
        });
        const answer = await middleware.workspace!.configuration!(
            { items: [{ section: 'ckptlens' }, { section: 'python' }] },
            {} as vscode.CancellationToken,
            () => [{ enable: true, interpreter: ['/p'], severity: {}, trace: { server: 'off' }, links: [] }, { x: 1 }],
        );
        assert.deepEqual(answer, [{ enable: true, links: [] }, { x: 1 }]);
    });
});
