// A small stand-in for the `vscode` module: the classes and enums the extension constructs.
// Every API *call* goes through src/common/vscodeapi.ts, which the tests stub per test.

import * as path from 'path';

export class Uri {
    private constructor(
        readonly scheme: string,
        readonly path: string,
        readonly query = '',
    ) {}

    static file(fsPath: string): Uri {
        return new Uri('file', fsPath.split(path.sep).join('/'));
    }

    static from(parts: { scheme: string; path?: string; query?: string }): Uri {
        return new Uri(parts.scheme, parts.path ?? '', parts.query ?? '');
    }

    static parse(value: string): Uri {
        const match = /^([a-z-]+):\/\/([^?]*)(?:\?(.*))?$/.exec(value);
        if (!match) {
            throw new Error(`cannot parse ${value}`);
        }
        return new Uri(match[1], decodeURIComponent(match[2]), match[3] ?? '');
    }

    static joinPath(base: Uri, ...segments: string[]): Uri {
        return new Uri(base.scheme, path.posix.join(base.path, ...segments), base.query);
    }

    get fsPath(): string {
        return this.path;
    }

    toString(): string {
        return `${this.scheme}://${encodeURI(this.path)}${this.query ? `?${this.query}` : ''}`;
    }
}

export class Position {
    constructor(
        readonly line: number,
        readonly character: number,
    ) {}
}

export class Range {
    readonly start: Position;
    readonly end: Position;
    constructor(
        startLine: number | Position,
        startCharacter: number | Position,
        endLine?: number,
        endCharacter?: number,
    ) {
        if (startLine instanceof Position && startCharacter instanceof Position) {
            this.start = startLine;
            this.end = startCharacter;
        } else {
            this.start = new Position(startLine as number, startCharacter as number);
            this.end = new Position(endLine!, endCharacter!);
        }
    }
}

export class Selection extends Range {
    get active(): Position {
        return this.end;
    }
}

export type EditOperation =
    | { kind: 'insert'; uri: Uri; position: Position; text: string }
    | { kind: 'replace'; uri: Uri; range: Range; text: string }
    | { kind: 'createFile'; uri: Uri; options?: unknown };

export class WorkspaceEdit {
    readonly operations: EditOperation[] = [];
    insert(uri: Uri, position: Position, text: string): void {
        this.operations.push({ kind: 'insert', uri, position, text });
    }
    replace(uri: Uri, range: Range, text: string): void {
        this.operations.push({ kind: 'replace', uri, range, text });
    }
    createFile(uri: Uri, options?: unknown): void {
        this.operations.push({ kind: 'createFile', uri, options });
    }
}

export class Disposable {
    constructor(private readonly callOnDispose: () => void = () => undefined) {}
    dispose(): void {
        this.callOnDispose();
    }
}

export class EventEmitter<T> {
    private listeners: ((e: T) => void)[] = [];
    readonly event = (listener: (e: T) => void): Disposable => {
        this.listeners.push(listener);
        return new Disposable(() => {
            this.listeners = this.listeners.filter((l) => l !== listener);
        });
    };
    fire(value: T): void {
        this.listeners.forEach((l) => l(value));
    }
    dispose(): void {
        this.listeners = [];
    }
}

export class Diagnostic {
    source?: string;
    code?: string | number | { value: string | number; target: Uri };
    constructor(
        readonly range: Range,
        readonly message: string,
        public severity: DiagnosticSeverity = DiagnosticSeverity.Error,
    ) {}
}

export enum DiagnosticSeverity {
    Error = 0,
    Warning = 1,
    Information = 2,
    Hint = 3,
}

export enum EndOfLine {
    LF = 1,
    CRLF = 2,
}

export enum QuickPickItemKind {
    Separator = -1,
    Default = 0,
}

export enum StatusBarAlignment {
    Left = 1,
    Right = 2,
}

export enum ProgressLocation {
    SourceControl = 1,
    Window = 10,
    Notification = 15,
}

export enum FileType {
    Unknown = 0,
    File = 1,
    Directory = 2,
    SymbolicLink = 64,
}

export enum ConfigurationTarget {
    Global = 1,
    Workspace = 2,
    WorkspaceFolder = 3,
}

function notStubbed(name: string): never {
    throw new Error(`vscode.${name} is not available in unit tests: stub the vscodeapi wrapper instead`);
}

const namespace = (name: string) =>
    new Proxy(
        {},
        {
            get: (_target, prop) => (prop === 'then' ? undefined : () => notStubbed(`${name}.${String(prop)}`)),
        },
    );

export const window = namespace('window');
export const workspace = namespace('workspace');
export const commands = namespace('commands');
export const languages = namespace('languages');
export const extensions = namespace('extensions');
export const env = namespace('env');
