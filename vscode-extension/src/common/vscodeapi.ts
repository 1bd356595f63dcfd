// The VS Code API, behind plain functions so that unit tests can stub each of them.
// Only this module (and type-only imports elsewhere) touches `vscode` namespaces directly.

import * as vscode from 'vscode';
import type { PythonExtension } from '@vscode/python-extension';
import { PYTHON_EXTENSION_ID } from './constants';

export function createOutputChannel(name: string): vscode.LogOutputChannel {
    return vscode.window.createOutputChannel(name, { log: true });
}

export function getConfiguration(section: string, scope?: vscode.ConfigurationScope): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(section, scope);
}

export function onDidChangeConfiguration(listener: (e: vscode.ConfigurationChangeEvent) => unknown): vscode.Disposable {
    return vscode.workspace.onDidChangeConfiguration(listener);
}

export function isWorkspaceTrusted(): boolean {
    return vscode.workspace.isTrusted;
}

export function onDidGrantWorkspaceTrust(listener: () => unknown): vscode.Disposable {
    return vscode.workspace.onDidGrantWorkspaceTrust(listener);
}

export function getWorkspaceFolders(): readonly vscode.WorkspaceFolder[] {
    return vscode.workspace.workspaceFolders ?? [];
}

export function getWorkspaceFolder(uri: vscode.Uri): vscode.WorkspaceFolder | undefined {
    return vscode.workspace.getWorkspaceFolder(uri);
}

export function registerCommand(command: string, callback: (...args: unknown[]) => unknown): vscode.Disposable {
    return vscode.commands.registerCommand(command, callback);
}

export function executeCommand<T = unknown>(command: string, ...rest: unknown[]): Thenable<T> {
    return vscode.commands.executeCommand<T>(command, ...rest);
}

export function getActiveTextEditor(): vscode.TextEditor | undefined {
    return vscode.window.activeTextEditor;
}

export function onDidChangeActiveTextEditor(
    listener: (editor: vscode.TextEditor | undefined) => unknown,
): vscode.Disposable {
    return vscode.window.onDidChangeActiveTextEditor(listener);
}

export function showInformationMessage(message: string, ...items: string[]): Thenable<string | undefined> {
    return vscode.window.showInformationMessage(message, ...items);
}

export function showWarningMessage(message: string, ...items: string[]): Thenable<string | undefined> {
    return vscode.window.showWarningMessage(message, ...items);
}

export function showErrorMessage(message: string, ...items: string[]): Thenable<string | undefined> {
    return vscode.window.showErrorMessage(message, ...items);
}

export function showQuickPick<T extends vscode.QuickPickItem>(
    items: readonly T[],
    options: vscode.QuickPickOptions,
): Thenable<T | undefined> {
    return vscode.window.showQuickPick(items, options);
}

export function showOpenDialog(options: vscode.OpenDialogOptions): Thenable<vscode.Uri[] | undefined> {
    return vscode.window.showOpenDialog(options);
}

export function showSaveDialog(options: vscode.SaveDialogOptions): Thenable<vscode.Uri | undefined> {
    return vscode.window.showSaveDialog(options);
}

export function showTextDocument(
    document: vscode.TextDocument,
    options?: vscode.TextDocumentShowOptions,
): Thenable<vscode.TextEditor> {
    return vscode.window.showTextDocument(document, options);
}

export function openTextDocument(uri: vscode.Uri): Thenable<vscode.TextDocument> {
    return vscode.workspace.openTextDocument(uri);
}

export function findFiles(include: string, exclude: string, maxResults: number): Thenable<vscode.Uri[]> {
    return vscode.workspace.findFiles(include, exclude, maxResults);
}

export function applyEdit(edit: vscode.WorkspaceEdit): Thenable<boolean> {
    return vscode.workspace.applyEdit(edit);
}

export async function readFile(uri: vscode.Uri): Promise<string | undefined> {
    try {
        return new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
    } catch {
        return undefined;
    }
}

export async function pathKind(uri: vscode.Uri): Promise<'file' | 'directory' | undefined> {
    try {
        const stat = await vscode.workspace.fs.stat(uri);
        return stat.type & vscode.FileType.Directory ? 'directory' : 'file';
    } catch {
        return undefined;
    }
}

export function withProgress<R>(title: string, task: () => Thenable<R>): Thenable<R> {
    return vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title, cancellable: false },
        task,
    );
}

export function createStatusBarItem(id: string, priority: number): vscode.StatusBarItem {
    return vscode.window.createStatusBarItem(id, vscode.StatusBarAlignment.Left, priority);
}

export function getDiagnostics(uri: vscode.Uri): vscode.Diagnostic[] {
    return vscode.languages.getDiagnostics(uri);
}

export function onDidChangeDiagnostics(listener: (e: vscode.DiagnosticChangeEvent) => unknown): vscode.Disposable {
    return vscode.languages.onDidChangeDiagnostics(listener);
}

export function registerTextDocumentContentProvider(
    scheme: string,
    provider: vscode.TextDocumentContentProvider,
): vscode.Disposable {
    return vscode.workspace.registerTextDocumentContentProvider(scheme, provider);
}

export function isExtensionInstalled(id: string): boolean {
    return vscode.extensions.getExtension(id) !== undefined;
}

/** The Python extension's API, or undefined when that extension is not installed (it is optional). */
export async function getPythonExtensionApi(): Promise<PythonExtension | undefined> {
    if (!isExtensionInstalled(PYTHON_EXTENSION_ID)) {
        return undefined;
    }
    // Loaded lazily: the package touches `vscode.extensions` when its API is requested.
    const { PythonExtension } = await import('@vscode/python-extension');
    return PythonExtension.api();
}
