// Which Python runs the server: the `ckptlens.interpreter` setting when the user set one, else
// the interpreter the Python extension (ms-python.python, optional) selected for the workspace,
// else `python3` on PATH.

import * as path from 'path';
import type { Disposable, Uri } from 'vscode';
import { traceError, traceLog, traceVerbose } from './logging';
import { getInterpreterSetting, getProjectFolder } from './settings';
import { getPythonExtensionApi, getWorkspaceFolders, isWorkspaceTrusted } from './vscodeapi';

export type InterpreterSource = 'setting' | 'python-extension' | 'default';

export interface InterpreterChoice {
    /** Executable then arguments, e.g. `["/venv/bin/python"]` or `["conda", "run", "-n", "x", "python"]`. */
    command: string[];
    source: InterpreterSource;
    /** e.g. "3.11.7", when the Python extension told us. */
    version?: string;
    warnings: string[];
}

export function defaultPython(platform: NodeJS.Platform = process.platform): string {
    return platform === 'win32' ? 'python' : 'python3';
}

function isInside(file: string, folder: string): boolean {
    const relative = path.relative(folder, file);
    return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/** True when `file` lies in one of the open workspace folders (so the workspace controls it). */
export function isInWorkspace(file: string): boolean {
    return getWorkspaceFolders().some((folder) => isInside(path.resolve(file), path.resolve(folder.uri.fsPath)));
}

interface PythonExtensionInterpreter {
    executable: string;
    version?: string;
}

async function fromPythonExtension(resource?: Uri): Promise<PythonExtensionInterpreter | undefined> {
    let resolved;
    try {
        const api = await getPythonExtensionApi();
        if (!api) {
            return undefined;
        }
        const active = api.environments.getActiveEnvironmentPath(resource ?? getProjectFolder()?.uri);
        resolved = await api.environments.resolveEnvironment(active);
        if (!resolved) {
            traceVerbose(`The Python extension cannot resolve its environment ${active.path}`);
            return undefined;
        }
    } catch (err) {
        traceError("The Python extension's interpreter is not available:", err);
        return undefined;
    }
    const executable = resolved.executable.uri?.fsPath;
    if (!executable) {
        traceVerbose(`The Python extension's environment ${resolved.path} has no interpreter`);
        return undefined;
    }
    const version = resolved.version;
    return {
        executable,
        version: version ? `${version.major}.${version.minor}.${version.micro}` : undefined,
    };
}

export async function resolveInterpreter(resource?: Uri): Promise<InterpreterChoice> {
    const setting = getInterpreterSetting(resource);
    const warnings = [...setting.warnings];
    if (setting.command.length > 0) {
        return { command: setting.command, source: 'setting', warnings };
    }
    const selected = await fromPythonExtension(resource);
    if (selected) {
        if (!isWorkspaceTrusted() && isInWorkspace(selected.executable)) {
            // An interpreter inside an untrusted workspace is code from that workspace.
            warnings.push(
                `The Python extension selected ${selected.executable}, which lies inside this untrusted workspace; ` +
                    `using ${defaultPython()} instead (trust the workspace, or set ckptlens.interpreter in your user settings)`,
            );
        } else {
            return { command: [selected.executable], source: 'python-extension', version: selected.version, warnings };
        }
    }
    return { command: [defaultPython()], source: 'default', warnings };
}

/** Calls `onChange` whenever the Python extension's selected interpreter changes. */
export async function watchPythonInterpreter(onChange: () => void): Promise<Disposable | undefined> {
    try {
        const api = await getPythonExtensionApi();
        if (!api) {
            traceLog('The Python extension is not installed: using ckptlens.interpreter or python3 on PATH');
            return undefined;
        }
        return api.environments.onDidChangeActiveEnvironmentPath(() => onChange());
    } catch (err) {
        traceError('Cannot watch the Python extension for interpreter changes:', err);
        return undefined;
    }
}
