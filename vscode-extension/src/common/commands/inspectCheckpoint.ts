// `ckptlens.inspectCheckpoint`: run `ckptlens inspect <path> --format json` with the server's
// interpreter and bundled libraries, and show the result as a read-only document.

import type { Uri } from 'vscode';
import type { InspectContentProvider } from '../inspectView';
import { inspectUri, renderInspect } from '../inspectView';
import type { LaunchPlan } from '../launch';
import { ckptlensCommand, describeProblem } from '../launch';
import { traceError, traceLog } from '../logging';
import { runProcess } from '../runner';
import { getActiveTextEditor, openTextDocument, showErrorMessage, showTextDocument, withProgress } from '../vscodeapi';
import { pickCheckpoint } from './pickers';

const INSPECT_TIMEOUT_MS = 120_000;

export interface LaunchSource {
    currentLaunch(): Promise<LaunchPlan>;
}

export async function inspectCheckpoint(
    launches: LaunchSource,
    provider: InspectContentProvider,
    target?: unknown,
): Promise<boolean> {
    const checkpoint = isUri(target)
        ? target
        : await pickCheckpoint('ckptlens: inspect which checkpoint?', getActiveTextEditor()?.document.uri);
    if (!checkpoint) {
        return false;
    }
    const plan = await launches.currentLaunch();
    if (!plan.launch) {
        void showErrorMessage(describeProblem(plan.problem));
        return false;
    }
    const [command, args] = ckptlensCommand(plan.launch, ['inspect', checkpoint.fsPath, '--format', 'json']);
    traceLog(`Running: ${command} ${args.join(' ')}`);
    const result = await withProgress(`ckptlens: reading ${checkpoint.fsPath}…`, () =>
        runProcess(command, args, { env: plan.launch.env, cwd: plan.launch.cwd, timeoutMs: INSPECT_TIMEOUT_MS }),
    );
    if (result.code !== 0) {
        const reason = result.error ?? result.stderr.trim().split(/\r?\n/).pop() ?? `exit code ${result.code}`;
        traceError(`ckptlens inspect failed: ${result.stderr.trim() || reason}`);
        void showErrorMessage(`ckptlens cannot read ${checkpoint.fsPath}: ${reason}`);
        return false;
    }
    let report: unknown;
    try {
        report = JSON.parse(result.stdout);
    } catch {
        traceError(`ckptlens inspect printed something that is not JSON:\n${result.stdout.slice(0, 2000)}`);
        void showErrorMessage('ckptlens inspect printed something unexpected (see the log).');
        return false;
    }
    const uri = inspectUri(checkpoint.fsPath);
    provider.set(uri, renderInspect(report, checkpoint.fsPath));
    await showTextDocument(await openTextDocument(uri), { preview: true });
    return true;
}

function isUri(value: unknown): value is Uri {
    return typeof value === 'object' && value !== null && 'fsPath' in value && 'scheme' in value;
}
