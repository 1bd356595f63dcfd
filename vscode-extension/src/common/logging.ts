// One log for the extension: the "ckptlens" output channel, shared with the language client
// (its `outputChannel` and `traceOutputChannel`), so the server's log and ours read as one.

import * as util from 'util';

/** The part of `vscode.LogOutputChannel` the extension writes to. */
export interface LogSink {
    trace(message: string): void;
    debug(message: string): void;
    info(message: string): void;
    warn(message: string): void;
    error(message: string | Error): void;
}

let sink: LogSink | undefined;

export function registerLogger(logSink: LogSink): { dispose(): void } {
    sink = logSink;
    return {
        dispose: () => {
            if (sink === logSink) {
                sink = undefined;
            }
        },
    };
}

function format(args: unknown[]): string {
    return args.map((a) => (typeof a === 'string' ? a : util.inspect(a, { depth: 4 }))).join(' ');
}

export function traceVerbose(...args: unknown[]): void {
    sink?.debug(format(args));
}

export function traceLog(...args: unknown[]): void {
    sink?.info(format(args));
}

export function traceWarn(...args: unknown[]): void {
    sink?.warn(format(args));
}

export function traceError(...args: unknown[]): void {
    sink?.error(format(args));
}
