// How the server process is launched: `<python> -m ckptlens lsp`, with the server and its
// libraries from the extension (`bundled/libs`) on PYTHONPATH, so the user's interpreter needs
// nothing installed. When that interpreter cannot import the bundled libraries (they are built
// for one Python version and platform), ckptlens installed in the interpreter's own
// environment is used instead, and when neither works the caller is told why.

import * as fs from 'fs';
import * as path from 'path';
import { bundledLibsPath, bundledWheelsPath } from './constants';
import type { InterpreterChoice } from './python';
import { runProcess } from './runner';

export type LaunchMode = 'bundled' | 'environment';

export interface Launch {
    command: string;
    /** Arguments before the ckptlens ones (from a multi-part interpreter setting). */
    pythonArgs: string[];
    env: NodeJS.ProcessEnv;
    cwd: string;
    mode: LaunchMode;
    interpreter: InterpreterChoice;
    pythonVersion?: string;
}

export interface LaunchProblem {
    interpreter: InterpreterChoice;
    /** The interpreter could not be run at all (not found, not executable). */
    notRunnable: boolean;
    pythonVersion?: string;
    platform?: string;
    /** The last line of what the import check printed, for the message. */
    reason: string;
}

export type LaunchPlan = { launch: Launch; problem?: undefined } | { launch?: undefined; problem: LaunchProblem };

/** Prints the version and platform first, so they are known even when an import fails. */
export const CHECK_SCRIPT =
    'import sys; print("%d.%d.%d" % sys.version_info[:3], sys.platform, flush=True); ' +
    'import ckptlens, pygls, libcst; print(ckptlens.__file__)';

const CHECK_TIMEOUT_MS = 20_000;

function baseEnv(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
    return {
        ...base,
        // Nothing from the working directory lands on sys.path (Python >= 3.11; ignored before).
        PYTHONSAFEPATH: '1',
        PYTHONUNBUFFERED: '1',
        PYTHONIOENCODING: 'utf-8',
    };
}

/** The environment for the bundled server: only the bundle on PYTHONPATH. */
export function bundledEnv(extensionRoot: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    return { ...baseEnv(base), PYTHONPATH: bundledLibsPath(extensionRoot) };
}

export function environmentEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    return baseEnv(base);
}

/** `<python> -m ckptlens <args>` as executable + arguments. */
export function ckptlensCommand(launch: Launch, args: readonly string[]): [string, string[]] {
    return [launch.command, [...launch.pythonArgs, '-m', 'ckptlens', ...args]];
}

interface CheckResult {
    ok: boolean;
    notRunnable: boolean;
    version?: string;
    platform?: string;
    reason: string;
}

export async function checkImports(
    interpreter: InterpreterChoice,
    env: NodeJS.ProcessEnv,
    cwd: string,
): Promise<CheckResult> {
    const [command, ...pythonArgs] = interpreter.command;
    const result = await runProcess(command, [...pythonArgs, '-c', CHECK_SCRIPT], {
        env,
        cwd,
        timeoutMs: CHECK_TIMEOUT_MS,
    });
    const firstLine = result.stdout.split(/\r?\n/)[0] ?? '';
    const match = /^(\d+\.\d+\.\d+) (\S+)$/.exec(firstLine.trim());
    const lastError = result.stderr.trim().split(/\r?\n/).pop() ?? '';
    return {
        ok: result.code === 0,
        notRunnable: match === null && (result.error !== undefined || result.code === null || result.code === 127),
        version: match?.[1],
        platform: match?.[2],
        reason: result.error ?? (lastError || `exit code ${result.code}`),
    };
}

/**
 * Decides how to start the server with `interpreter`: the bundled libraries when it can import
 * them, else ckptlens installed in its environment, else a problem to show the user.
 */
export async function planLaunch(interpreter: InterpreterChoice, extensionRoot: string): Promise<LaunchPlan> {
    const [command, ...pythonArgs] = interpreter.command;
    const cwd = extensionRoot;
    const bundled = bundledEnv(extensionRoot);
    const first = await checkImports(interpreter, bundled, cwd);
    const common = { command, pythonArgs, cwd, interpreter, pythonVersion: first.version };
    if (first.ok) {
        return { launch: { ...common, env: bundled, mode: 'bundled' } };
    }
    if (first.notRunnable) {
        return { problem: { interpreter, notRunnable: true, reason: first.reason } };
    }
    const env = environmentEnv();
    const second = await checkImports(interpreter, env, cwd);
    if (second.ok) {
        return { launch: { ...common, env, mode: 'environment' } };
    }
    return {
        problem: {
            interpreter,
            notRunnable: false,
            pythonVersion: first.version,
            platform: first.platform,
            reason: first.reason,
        },
    };
}

export function describeProblem(problem: LaunchProblem): string {
    const python = problem.interpreter.command.join(' ');
    if (problem.notRunnable) {
        return `ckptlens cannot run the Python interpreter "${python}" (${problem.reason}). Select a Python interpreter.`;
    }
    const version = problem.pythonVersion
        ? `Python ${problem.pythonVersion} on ${problem.platform ?? '?'}`
        : 'this Python';
    return (
        `ckptlens cannot start its server with "${python}" (${version}): the bundled libraries do not load there ` +
        `(${problem.reason}) and ckptlens is not installed in that environment. ` +
        'Install ckptlens into it, or select another interpreter (CPython 3.11 runs the bundled server as is).'
    );
}

/** What `pip install` should install: the server wheel shipped in the extension, else from the index. */
export function installTarget(extensionRoot: string): string {
    const folder = bundledWheelsPath(extensionRoot);
    let wheels: string[] = [];
    try {
        wheels = fs.readdirSync(folder).filter((name) => /^ckptlens-.*\.whl$/.test(name));
    } catch {
        // no wheel shipped: fall back to the package index
    }
    return wheels.length > 0 ? path.join(folder, wheels.sort().pop()!) : 'ckptlens';
}

export function pipInstallArgs(interpreter: InterpreterChoice, extensionRoot: string): [string, string[]] {
    const [command, ...pythonArgs] = interpreter.command;
    return [command, [...pythonArgs, '-m', 'pip', 'install', '--upgrade', installTarget(extensionRoot)]];
}
