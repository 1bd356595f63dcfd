/* eslint-disable @typescript-eslint/no-require-imports -- a plain CommonJS script */
/* global require, process, console, __dirname, setTimeout */
// Smoke test of the built extension (dist/extension.js) with the real vscode-languageclient and
// the real bundled server, under a crude in-process imitation of the VS Code API (VS Code itself
// cannot run here). It activates the extension on fixtures/examples/mlp.py linked to
// mlp_module_prefix.pt and checks, end to end: the server starts from bundled/libs, pulled
// diagnostics arrive with `ckptlens.severity` applied, "Generate Key Mapping" from the palette
// reaches the server and comes back as a workspace edit, and "Inspect Checkpoint" renders.
//
// Run after `npm run package` (or bundle:server + build): `npm run test:smoke`.

'use strict';
const Module = require('module');
const assert = require('assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');

const EXTENSION = path.resolve(__dirname, '..', '..');
const EXAMPLES = path.resolve(EXTENSION, '..', 'fixtures', 'examples');
const TIMEOUT_MS = 60_000;

// -- a workspace with the example linked by a directive ----------------------------------------
const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'ckptlens-smoke-'));
fs.copyFileSync(path.join(EXAMPLES, 'mlp_module_prefix.pt'), path.join(workspace, 'mlp_module_prefix.pt'));
const text = fs
    .readFileSync(path.join(EXAMPLES, 'mlp.py'), 'utf8')
    .replace('class MLP(', '# ckptlens: checkpoint=mlp_module_prefix.pt\nclass MLP(');
fs.writeFileSync(path.join(workspace, 'mlp.py'), text);
const lines = text.split('\n');
const cursorLine = lines.findIndex((l) => l.includes('self.layer_1 = '));

// -- the imitation of the VS Code API -------------------------------------------------------------
class Disposable {
    constructor(onDispose) {
        this.onDispose = onDispose;
    }
    dispose() {
        if (this.onDispose) {
            this.onDispose();
        }
    }
    static from(...items) {
        return new Disposable(() => items.forEach((d) => d.dispose()));
    }
}
class EventEmitter {
    constructor() {
        this.listeners = [];
        this.event = (listener) => {
            this.listeners.push(listener);
            return new Disposable(() => (this.listeners = this.listeners.filter((l) => l !== listener)));
        };
    }
    fire(value) {
        this.listeners.forEach((l) => l(value));
    }
    dispose() {
        this.listeners = [];
    }
}
class Uri {
    constructor(scheme, fsPath, query = '') {
        this.scheme = scheme;
        this.path = fsPath;
        this.query = query;
        this.authority = '';
        this.fragment = '';
    }
    static file(p) {
        return new Uri('file', p);
    }
    static parse(value) {
        const match = /^([a-z-]+):\/\/([^?#]*)(?:\?([^#]*))?/.exec(value);
        return new Uri(match[1], decodeURIComponent(match[2]), match[3] || '');
    }
    static joinPath(base, ...segments) {
        return new Uri(base.scheme, path.posix.join(base.path, ...segments));
    }
    static from(parts) {
        return new Uri(parts.scheme, parts.path || '', parts.query || '');
    }
    get fsPath() {
        return this.path;
    }
    with(change) {
        return new Uri(change.scheme || this.scheme, change.path || this.path, change.query || this.query);
    }
    toString() {
        return `${this.scheme}://${encodeURI(this.path)}${this.query ? `?${this.query}` : ''}`;
    }
    toJSON() {
        return this.toString();
    }
}
class Position {
    constructor(line, character) {
        this.line = line;
        this.character = character;
    }
}
class Range {
    constructor(a, b, c, d) {
        if (a instanceof Position) {
            this.start = a;
            this.end = b;
        } else {
            this.start = new Position(a, b);
            this.end = new Position(c, d);
        }
    }
}
class Diagnostic {
    constructor(range, message, severity) {
        this.range = range;
        this.message = message;
        this.severity = severity;
    }
}
class TextEdit {
    constructor(range, newText) {
        this.range = range;
        this.newText = newText;
    }
}
class WorkspaceEdit {
    constructor() {
        this.edits = [];
    }
    set(uri, edits) {
        edits.forEach((e) => this.edits.push({ uri: String(uri), line: e.range.start.line, text: e.newText }));
    }
    replace(uri, range, newText) {
        this.edits.push({ uri: String(uri), line: range.start.line, text: newText });
    }
    insert(uri, position, newText) {
        this.edits.push({ uri: String(uri), line: position.line, text: newText });
    }
    get size() {
        return this.edits.length;
    }
}
class CodeActionKind {
    constructor(value) {
        this.value = value;
    }
    append(part) {
        return new CodeActionKind(this.value ? `${this.value}.${part}` : part);
    }
    contains(other) {
        return other.value === this.value || other.value.startsWith(`${this.value}.`);
    }
}
CodeActionKind.Empty = new CodeActionKind('');
CodeActionKind.QuickFix = new CodeActionKind('quickfix');
class TabInputText {
    constructor(uri) {
        this.uri = uri;
    }
}
class CancellationTokenSource {
    constructor() {
        this.token = { isCancellationRequested: false, onCancellationRequested: () => new Disposable() };
    }
    cancel() {}
    dispose() {}
}

const document = {
    uri: Uri.file(path.join(workspace, 'mlp.py')),
    fileName: path.join(workspace, 'mlp.py'),
    languageId: 'python',
    version: 1,
    isClosed: false,
    isUntitled: false,
    isDirty: false,
    eol: 1,
    lineCount: lines.length,
    getText: () => text,
    lineAt: (n) => ({ text: lines[n], range: new Range(n, 0, n, lines[n].length) }),
};
const settings = {
    ckptlens: { enable: true, links: [], severity: { 'key-prefix': 'warning' }, trace: { server: 'off' } },
};
const diagnostics = new Map();
const commands = new Map();
const appliedEdits = [];
const logLines = [];
let inspectProvider;
let shownText;

const noEvent = () => new Disposable();
function namespace(members) {
    // Anything not imitated: events give a disposable, other functions do nothing.
    return new Proxy(members, {
        get(target, prop) {
            if (prop in target) {
                return target[prop];
            }
            return typeof prop === 'string' && prop.startsWith('on') ? noEvent : () => new Disposable();
        },
    });
}
function configuration(section) {
    const pick = (root, key) => (key ? key.split('.').reduce((o, k) => (o === undefined ? o : o[k]), root) : root);
    const values = pick(settings, section) || {};
    return {
        ...values,
        get: (key, fallback) => {
            const value = pick(values, key);
            return value === undefined ? fallback : value;
        },
        has: (key) => pick(values, key) !== undefined,
        inspect: (key) => ({ key }),
        update: () => Promise.resolve(),
    };
}
const channel = {
    name: 'ckptlens',
    logLevel: 2,
    onDidChangeLogLevel: noEvent,
    append: (s) => logLines.push(s),
    appendLine: (s) => logLines.push(s),
    replace() {},
    clear() {},
    show() {},
    hide() {},
    dispose() {},
    trace: (s) => logLines.push(s),
    debug: (s) => logLines.push(s),
    info: (s) => logLines.push(s),
    warn: (s) => logLines.push(`WARN ${s}`),
    error: (s) => logLines.push(`ERROR ${s}`),
};
const vscode = {
    version: '1.85.0',
    Uri,
    Position,
    Range,
    Diagnostic,
    Disposable,
    EventEmitter,
    TextEdit,
    WorkspaceEdit,
    TabInputText,
    CodeActionKind,
    CancellationTokenSource,
    DiagnosticSeverity: { Error: 0, Warning: 1, Information: 2, Hint: 3 },
    DiagnosticTag: { Unnecessary: 1, Deprecated: 2 },
    StatusBarAlignment: { Left: 1, Right: 2 },
    ProgressLocation: { Window: 10, Notification: 15 },
    EndOfLine: { LF: 1, CRLF: 2 },
    QuickPickItemKind: { Separator: -1, Default: 0 },
    FileType: { File: 1, Directory: 2 },
    workspace: namespace({
        workspaceFolders: [{ uri: Uri.file(workspace), name: 'smoke', index: 0 }],
        textDocuments: [document],
        notebookDocuments: [],
        isTrusted: true,
        getConfiguration: configuration,
        getWorkspaceFolder: () => ({ uri: Uri.file(workspace), name: 'smoke', index: 0 }),
        createFileSystemWatcher: () => ({
            onDidCreate: noEvent,
            onDidChange: noEvent,
            onDidDelete: noEvent,
            dispose() {},
        }),
        registerTextDocumentContentProvider: (_scheme, provider) => {
            inspectProvider = provider;
            return new Disposable();
        },
        openTextDocument: (uri) => Promise.resolve({ uri }),
        applyEdit: (edit) => {
            appliedEdits.push(...edit.edits);
            return Promise.resolve(true);
        },
    }),
    window: namespace({
        activeTextEditor: { document, selection: { active: new Position(cursorLine, 8) } },
        visibleTextEditors: [],
        tabGroups: {
            get all() {
                return [{ isActive: true, tabs: [{ isActive: true, input: new TabInputText(document.uri) }] }];
            },
            onDidChangeTabs: noEvent,
            onDidChangeTabGroups: noEvent,
        },
        createOutputChannel: () => channel,
        createStatusBarItem: () => ({ show() {}, hide() {}, dispose() {} }),
        withProgress: (_options, task) => task(),
        showTextDocument: (doc) => {
            shownText = inspectProvider.provideTextDocumentContent(doc.uri);
            return Promise.resolve({});
        },
        showErrorMessage: (message) => {
            logLines.push(`ERROR MESSAGE ${message}`);
            return Promise.resolve(undefined);
        },
        showWarningMessage: () => Promise.resolve(undefined),
        showInformationMessage: () => Promise.resolve(undefined),
    }),
    languages: namespace({
        createDiagnosticCollection: () => ({
            set: (uri, items) => diagnostics.set(String(uri), items || []),
            get: (uri) => diagnostics.get(String(uri)),
            delete: (uri) => diagnostics.delete(String(uri)),
            has: (uri) => diagnostics.has(String(uri)),
            forEach() {},
            clear() {},
            dispose() {},
        }),
        getDiagnostics: (uri) => diagnostics.get(String(uri)) || [],
        match: () => 10,
    }),
    commands: namespace({
        registerCommand: (name, callback) => {
            if (commands.has(name)) {
                throw new Error(`command '${name}' already exists`);
            }
            commands.set(name, callback);
            return new Disposable(() => commands.delete(name));
        },
        executeCommand: (name, ...args) => Promise.resolve(commands.get(name)?.(...args)),
    }),
    extensions: namespace({ getExtension: () => undefined }),
    env: namespace({ appName: 'ckptlens smoke test', language: 'en', machineId: 'smoke', sessionId: 'smoke' }),
};
const vscodeModule = new Proxy(vscode, {
    get(target, prop) {
        if (prop in target) {
            return target[prop];
        }
        if (prop === '__esModule' || prop === 'default' || prop === 'then') {
            return undefined;
        }
        return class Imitation {};
    },
});
const load = Module._load;
Module._load = function (request, ...rest) {
    return request === 'vscode' ? vscodeModule : load.call(this, request, ...rest);
};

async function waitFor(what, predicate) {
    const deadline = Date.now() + TIMEOUT_MS;
    while (Date.now() < deadline) {
        const value = predicate();
        if (value) {
            return value;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
}

async function main() {
    const extension = require(path.join(EXTENSION, 'dist', 'extension.js'));
    const context = {
        subscriptions: [],
        extensionPath: EXTENSION,
        extensionUri: Uri.file(EXTENSION),
        extension: { packageJSON: require(path.join(EXTENSION, 'package.json')) },
    };
    await extension.activate(context);
    assert.ok(
        logLines.some((l) => l.startsWith('Starting the bundled server')),
        `the bundled server did not start:\n${logLines.join('\n')}`,
    );
    // With libcst from the bundle's folder for python3's own CPython version.
    const python = process.platform === 'win32' ? 'python' : 'python3';
    const tag = require('child_process')
        .execFileSync(python, ['-c', 'import sys; print("cp%d%d" % sys.version_info[:2])'])
        .toString()
        .trim();
    assert.ok(
        logLines.some(
            (l) => l.startsWith('Starting the bundled server') && l.endsWith(`(libcst from bundled/native/${tag})`),
        ),
        `the bundled server did not use bundled/native/${tag}:\n${logLines.join('\n')}`,
    );

    const found = await waitFor('ckptlens diagnostics', () => {
        const items = (diagnostics.get(String(document.uri)) || []).filter((d) => d.source === 'ckptlens');
        return items.length > 0 ? items : undefined;
    });
    const byCode = new Map(found.map((d) => [typeof d.code === 'object' ? d.code.value : d.code, d]));
    assert.ok(byCode.has('renamed-module') && byCode.has('key-prefix'), [...byCode.keys()].join(', '));
    assert.equal(byCode.get('renamed-module').range.start.line, cursorLine);
    assert.equal(byCode.get('key-prefix').severity, vscode.DiagnosticSeverity.Warning, 'ckptlens.severity applied');
    console.log(`diagnostics: ${found.map((d) => `${d.code.value || d.code}@${d.range.start.line + 1}`).join(', ')}`);

    const applied = await commands.get('ckptlens.generateKeyMapping')();
    assert.equal(applied, true);
    assert.ok(
        appliedEdits.some((e) => e.text.includes('def remap_state_dict')),
        JSON.stringify(appliedEdits),
    );
    console.log(`generate key mapping: ${appliedEdits.length} edits`);

    await commands.get('ckptlens.inspectCheckpoint')(Uri.file(path.join(workspace, 'mlp_module_prefix.pt')));
    assert.match(shownText || '', /module\.layer1\.weight\s+\[20, 10\]\s+float32/);
    console.log('inspect checkpoint: rendered');

    await extension.deactivate();
    for (const disposable of context.subscriptions) {
        disposable.dispose();
    }
}

main()
    .then(() => {
        console.log('smoke test passed');
        fs.rmSync(workspace, { recursive: true, force: true });
        process.exit(0);
    })
    .catch((err) => {
        console.error('smoke test FAILED:', err);
        console.error(logLines.join('\n'));
        process.exit(1);
    });
