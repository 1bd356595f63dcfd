// `ckptlens.writeFixedCheckpoint` ("Write Fixed Checkpoint…"): pick a class of the active file
// and a checkpoint (ranked by fit), then a safetensors file to write; runs `ckptlens map SOURCE
// --class NAME --checkpoint CKPT --write OUT --format json` with the server's interpreter: the
// checkpoint's tensors streamed into OUT with the key mapping applied (never over the source).

import * as path from 'path';
import { Uri } from 'vscode';
import type { LaunchPlan } from '../launch';
import { ckptlensCommand, describeProblem } from '../launch';
import { traceError, traceLog } from '../logging';
import { runProcess } from '../runner';
import { showErrorMessage, showInformationMessage, showSaveDialog, withProgress } from '../vscodeapi';
import type { CheckpointRanker } from './pickers';
import { pickClassAndCheckpoint } from './pickers';

const WRITE_TIMEOUT_MS = 60 * 60_000; // a large checkpoint is streamed, not loaded: still minutes on a slow disk

export interface LaunchSource {
    currentLaunch(): Promise<LaunchPlan>;
}

export interface Written {
    files: string[];
    index: string | null;
    tensors: number;
    bytes: number;
    renamed: number;
    dropped: string[];
}

/** The arguments of `ckptlens map ... --write OUT --format json`. */
export function writeArguments(source: string, className: string, checkpoint: string, out: string): string[] {
    return ['map', source, '--class', className, '--checkpoint', checkpoint, '--write', out, '--format', 'json'];
}

/** `<checkpoint stem>.fixed.safetensors` beside the checkpoint (inside a checkpoint folder). */
export function defaultOutput(checkpoint: string): string {
    const base = path.basename(checkpoint).replace(/\.(pt|pth|bin|ckpt|safetensors)$/, '');
    return path.join(path.dirname(checkpoint), `${base}.fixed.safetensors`);
}

/** The `written` report of `map --write`, or undefined when the output is not that. */
export function parseWritten(stdout: string): Written | undefined {
    try {
        const written = (JSON.parse(stdout) as { written?: Written }).written;
        return written && Array.isArray(written.files) ? written : undefined;
    } catch {
        return undefined;
    }
}

export function writtenMessage(w: Written): string {
    const where = w.index ?? w.files[0];
    const shards = w.index ? ` (${w.files.length} shards)` : '';
    const mib = (w.bytes / 2 ** 20).toFixed(1);
    return `ckptlens: wrote ${path.basename(where)}${shards}: ${w.tensors} tensors, ${mib} MiB, ${w.renamed} renamed, ${w.dropped.length} dropped.`;
}

export async function writeFixedCheckpoint(launches: LaunchSource, rank?: CheckpointRanker): Promise<boolean> {
    const picked = await pickClassAndCheckpoint({
        fileOnly: true,
        classTitle: 'ckptlens: write a checkpoint that fits which class?',
        checkpointTitle: (name) => `ckptlens: the checkpoint to rewrite for ${name}`,
        rank,
    });
    if (!picked) {
        return false;
    }
    const { document, cls, checkpoint } = picked;
    const out = await showSaveDialog({
        title: `ckptlens: write the checkpoint, remapped for ${cls.name}, as`,
        defaultUri: Uri.file(defaultOutput(checkpoint.fsPath)),
        filters: { safetensors: ['safetensors'] },
        saveLabel: 'Write',
    });
    if (!out) {
        return false;
    }
    const plan = await launches.currentLaunch();
    if (!plan.launch) {
        void showErrorMessage(describeProblem(plan.problem));
        return false;
    }
    const [command, args] = ckptlensCommand(
        plan.launch,
        writeArguments(document.uri.fsPath, cls.name, checkpoint.fsPath, out.fsPath),
    );
    traceLog(`Running: ${command} ${args.join(' ')}`);
    const result = await withProgress(`ckptlens: writing ${out.fsPath}…`, () =>
        runProcess(command, args, { env: plan.launch.env, cwd: plan.launch.cwd, timeoutMs: WRITE_TIMEOUT_MS }),
    );
    const written = result.code === 0 || result.code === 1 ? parseWritten(result.stdout) : undefined;
    if (!written) {
        const reason = result.error ?? result.stderr.trim().split(/\r?\n/).pop() ?? `exit code ${result.code}`;
        traceError(`ckptlens map --write failed: ${result.stderr.trim() || reason}`);
        void showErrorMessage(`ckptlens could not write ${out.fsPath}: ${reason}`);
        return false;
    }
    void showInformationMessage(writtenMessage(written));
    return true;
}
