// How the server process is launched: `<python> -m ckptlens lsp`, with the server and its
// libraries from the extension on PYTHONPATH, so the user's interpreter needs nothing installed.
// The pure-Python libraries (`bundled/libs`) serve every CPython; libcst is native, so the .vsix
// holds one build per CPython version (`bundled/native/cp310` ... `cp313`, for the platform the
// .vsix is for) and the one matching the interpreter is put in front. When that interpreter
// cannot import the bundle (another version, implementation or platform), ckptlens installed in
// the interpreter's own environment is used instead, and when neither works the caller is told why.

import * as fs from 'fs';
import * as path from 'path';
import { bundledLibsPath, bundledNativePath, bundledTargetPath, bundledWheelsPath } from './constants';
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
    /** The folder of bundled/native used (`cp311`), when the interpreter has one. */
    bundle?: string;
}

export interface LaunchProblem {
    interpreter: InterpreterChoice;
    /** The interpreter could not be run at all (not found, not executable). */
    notRunnable: boolean;
    pythonVersion?: string;
    platform?: string;
    /** The last line of what the import check printed, for the message. */
    reason: string;
    /** Which interpreters run the bundle as is, e.g. "CPython 3.10, 3.11, 3.12 or 3.13 on linux-x64". */
    supported?: string;
}

export type LaunchPlan = { launch: Launch; problem?: undefined } | { launch?: undefined; problem: LaunchProblem };

/**
 * Prints the version and platform first, so they are known even when an import fails; then the
 * bundled libcst folder for this interpreter (`cp311` under the folder given as the first
 * argument, `-` when there is none: then the bundle is not for this interpreter, and it fails),
 * which it puts first on sys.path as the launch will; then imports the server's modules
 * (libcst.native: libcst's pure-Python part would import anywhere).
 */
export const CHECK_SCRIPT = [
    'import os, sys',
    'print("%d.%d.%d" % sys.version_info[:3], sys.platform, flush=True)',
    'tag = "cp%d%d" % sys.version_info[:2] if sys.implementation.name == "cpython" else "-"',
    'native = os.path.join(sys.argv[1], tag) if len(sys.argv) > 1 and tag != "-" else ""',
    'tag = tag if native and os.path.isdir(native) else "-"',
    'print(tag, flush=True)',
    'sys.exit("no libcst in the bundle for this interpreter") if len(sys.argv) > 1 and tag == "-" else None',
    'sys.path[:0] = [native] if tag != "-" else []',
    'import ckptlens, pygls, libcst, libcst.native',
    'print(ckptlens.__file__)',
].join('; ');

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

/**
 * The environment for the bundled server: only the bundle on PYTHONPATH, the interpreter's libcst
 * folder (`cp311`) first when it has one.
 */
export function bundledEnv(
    extensionRoot: string,
    bundle?: string,
    base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
    const folders = [bundledLibsPath(extensionRoot)];
    if (bundle) {
        folders.unshift(path.join(bundledNativePath(extensionRoot), bundle));
    }
    return { ...baseEnv(base), PYTHONPATH: folders.join(path.delimiter) };
}

interface BundleInfo {
    target?: string;
    pythons?: Record<string, unknown>;
}

/** "CPython 3.10, 3.11, 3.12 or 3.13 on linux-x64", from bundled/target.json. */
export function describeBundle(extensionRoot: string): string | undefined {
    let info: BundleInfo;
    try {
        info = JSON.parse(fs.readFileSync(bundledTargetPath(extensionRoot), 'utf8')) as BundleInfo;
    } catch {
        return undefined;
    }
    const versions = Object.keys(info.pythons ?? {}).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    if (versions.length === 0 || !info.target) {
        return undefined;
    }
    const list = versions.length === 1 ? versions[0] : `${versions.slice(0, -1).join(', ')} or ${versions.at(-1)}`;
    return `CPython ${list} on ${info.target}`;
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
    /** The bundled/native folder the script chose, if any. */
    bundle?: string;
    reason: string;
}

/** Runs CHECK_SCRIPT; `nativeRoot` (bundled/native) makes it choose the interpreter's libcst folder. */
export async function checkImports(
    interpreter: InterpreterChoice,
    env: NodeJS.ProcessEnv,
    cwd: string,
    nativeRoot?: string,
): Promise<CheckResult> {
    const [command, ...pythonArgs] = interpreter.command;
    const args = [...pythonArgs, '-c', CHECK_SCRIPT, ...(nativeRoot === undefined ? [] : [nativeRoot])];
    const result = await runProcess(command, args, {
        env,
        cwd,
        timeoutMs: CHECK_TIMEOUT_MS,
    });
    const [firstLine = '', secondLine = ''] = result.stdout.split(/\r?\n/);
    const match = /^(\d+\.\d+\.\d+) (\S+)$/.exec(firstLine.trim());
    const bundle = /^cp\d+$/.exec(secondLine.trim())?.[0];
    const lastError = result.stderr.trim().split(/\r?\n/).pop() ?? '';
    return {
        ok: result.code === 0,
        notRunnable: match === null && (result.error !== undefined || result.code === null || result.code === 127),
        version: match?.[1],
        platform: match?.[2],
        bundle,
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
    const first = await checkImports(interpreter, bundledEnv(extensionRoot), cwd, bundledNativePath(extensionRoot));
    const common = { command, pythonArgs, cwd, interpreter, pythonVersion: first.version };
    if (first.ok) {
        const env = bundledEnv(extensionRoot, first.bundle);
        return { launch: { ...common, env, mode: 'bundled', bundle: first.bundle } };
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
            supported: describeBundle(extensionRoot),
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
        'Install ckptlens into it, or select another interpreter' +
        (problem.supported ? ` (${problem.supported} runs the bundled server as is).` : '.')
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
