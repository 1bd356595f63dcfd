// What the extension changes between VS Code and the server (vscode-languageclient middleware):
// severity overrides on ckptlens diagnostics, the settings section the server is sent, and the
// arguments of `ckptlens.generateKeyMapping` when it is run from the palette.

import { DiagnosticSeverity } from 'vscode';
import type { Diagnostic } from 'vscode';
import type { Middleware } from 'vscode-languageclient';
import { COMMANDS, CONFIG_SECTION, DIAGNOSTIC_SOURCE } from './constants';
import type { Severity } from './settings';
import { serverSection } from './settings';

const TO_VSCODE: Record<Severity, DiagnosticSeverity> = {
    error: DiagnosticSeverity.Error,
    warning: DiagnosticSeverity.Warning,
    information: DiagnosticSeverity.Information,
    hint: DiagnosticSeverity.Hint,
};

export function diagnosticCode(diagnostic: Diagnostic): string | undefined {
    const code = diagnostic.code;
    if (code === undefined) {
        return undefined;
    }
    return typeof code === 'object' ? String(code.value) : String(code);
}

/** Applies `ckptlens.severity` (finding code -> severity) to the server's diagnostics, in place. */
export function applySeverityOverrides(diagnostics: Diagnostic[], overrides: Record<string, Severity>): Diagnostic[] {
    for (const diagnostic of diagnostics) {
        if (diagnostic.source !== DIAGNOSTIC_SOURCE) {
            continue;
        }
        const code = diagnosticCode(diagnostic);
        const override = code === undefined ? undefined : overrides[code];
        if (override !== undefined) {
            diagnostic.severity = TO_VSCODE[override];
        }
    }
    return diagnostics;
}

export interface MiddlewareContext {
    severity: Record<string, Severity>;
    /** `[uri, className]` for the active editor (may ask the user), or undefined to cancel. */
    keyMappingArguments(): Promise<unknown[] | undefined>;
    /** Called with the server's answer to `ckptlens.generateKeyMapping`. */
    onKeyMappingResult(applied: unknown, args: unknown[]): void;
}

export function createMiddleware(context: MiddlewareContext): Middleware {
    return {
        handleDiagnostics(uri, diagnostics, next) {
            next(uri, applySeverityOverrides(diagnostics, context.severity));
        },
        async provideDiagnostics(document, previousResultId, token, next) {
            const report = await next(document, previousResultId, token);
            if (report && 'items' in report) {
                applySeverityOverrides(report.items, context.severity);
            }
            return report;
        },
        async executeCommand(command, args, next) {
            if (command !== COMMANDS.generateKeyMapping) {
                const result: unknown = await next(command, args);
                return result;
            }
            const filled = args.length > 0 ? args : await context.keyMappingArguments();
            if (filled === undefined) {
                return undefined;
            }
            const applied: unknown = await next(command, filled);
            context.onKeyMappingResult(applied, filled);
            return applied;
        },
        workspace: {
            async configuration(params, token, next) {
                const answer = await next(params, token);
                if (!Array.isArray(answer)) {
                    return answer;
                }
                return answer.map((value: unknown, i) =>
                    params.items[i]?.section === CONFIG_SECTION ? serverSection(value) : value,
                );
            },
        },
    };
}
