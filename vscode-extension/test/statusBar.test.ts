import './setup';
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Diagnostic as VsDiagnostic } from 'vscode';
import { PROBLEMS_COMMAND, computeStatus } from '../src/common/statusBar';
import { Diagnostic, DiagnosticSeverity, Range } from './vscode';

function diagnostic(code: string, severity: DiagnosticSeverity, source = 'ckptlens'): VsDiagnostic {
    const d = new Diagnostic(new Range(0, 0, 0, 1), code, severity);
    d.code = code;
    d.source = source;
    return d as unknown as VsDiagnostic;
}

describe('computeStatus', () => {
    it('is a check mark when the file has no ckptlens problem', () => {
        const view = computeStatus('running', [diagnostic('unused-import', DiagnosticSeverity.Warning, 'pylint')]);
        assert.equal(view.text, '$(check) ckptlens');
        assert.equal(view.command, 'ckptlens.showLog');
    });

    it('counts errors and warnings, names their codes, and opens the Problems view', () => {
        const view = computeStatus('running', [
            diagnostic('renamed-module', DiagnosticSeverity.Error),
            diagnostic('key-prefix', DiagnosticSeverity.Warning),
            diagnostic('unresolved', DiagnosticSeverity.Information),
        ]);
        assert.equal(view.text, '$(warning) ckptlens 2');
        assert.match(view.tooltip, /1 renamed-module, 1 key-prefix \(1 note\)/);
        assert.equal(view.command, PROBLEMS_COMMAND);
    });

    it('shows when the server is not running', () => {
        assert.equal(computeStatus('failed', []).text, '$(error) ckptlens');
        assert.equal(computeStatus('starting', []).text, '$(sync~spin) ckptlens');
        assert.equal(computeStatus('disabled', []).text, '$(circle-slash) ckptlens');
    });
});
