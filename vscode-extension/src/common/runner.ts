// Running a short-lived process (an interpreter check, `ckptlens inspect`, pip) and collecting
// its output. Kept in one function so that tests can stub every process the extension runs.

import { spawn } from 'child_process';

export interface RunOptions {
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    /** Kill the process after this many milliseconds. */
    timeoutMs?: number;
    /** Called with each chunk of output as it arrives (for long runs such as pip). */
    onOutput?: (chunk: string) => void;
}

export interface RunResult {
    /** Exit code; null when the process could not start, was killed or timed out. */
    code: number | null;
    stdout: string;
    stderr: string;
    /** Why it could not start or was stopped (ENOENT, timeout). */
    error?: string;
}

export function runProcess(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return new Promise((resolve) => {
        let stdout = '';
        let stderr = '';
        let error: string | undefined;
        let child;
        try {
            child = spawn(command, [...args], {
                env: options.env,
                cwd: options.cwd,
                stdio: ['ignore', 'pipe', 'pipe'],
                windowsHide: true,
            });
        } catch (err) {
            resolve({ code: null, stdout, stderr, error: String(err) });
            return;
        }
        const timer =
            options.timeoutMs === undefined
                ? undefined
                : setTimeout(() => {
                      error = `timed out after ${options.timeoutMs} ms`;
                      child.kill();
                  }, options.timeoutMs);
        child.stdout.setEncoding('utf8');
        child.stderr.setEncoding('utf8');
        child.stdout.on('data', (chunk: string) => {
            stdout += chunk;
            options.onOutput?.(chunk);
        });
        child.stderr.on('data', (chunk: string) => {
            stderr += chunk;
            options.onOutput?.(chunk);
        });
        let done = false;
        const finish = (code: number | null) => {
            if (done) {
                return;
            }
            done = true;
            if (timer !== undefined) {
                clearTimeout(timer);
            }
            resolve({ code: error === undefined ? code : null, stdout, stderr, error });
        };
        child.on('error', (err) => {
            error = err.message;
            finish(null);
        });
        child.on('close', (code) => finish(code));
    });
}
