// `ckptlens.linkCheckpoint`: tie a class of the active file to a checkpoint, either with a
// directive comment above the class or with a `[[tool.ckptlens.link]]` table in pyproject.toml.

import * as path from 'path';
import { EndOfLine, Position, Range, Uri, WorkspaceEdit } from 'vscode';
import type { QuickPickItem, TextDocument } from 'vscode';
import type { PythonClass } from '../classes';
import { appendToToml, directiveEdit, pyprojectLinkTable, relativePath, splitLines } from '../classes';
import { traceLog } from '../logging';
import {
    applyEdit,
    getWorkspaceFolder,
    openTextDocument,
    readFile,
    showInformationMessage,
    showQuickPick,
    showTextDocument,
} from '../vscodeapi';
import type { CheckpointRanker } from './pickers';
import { pickClassAndCheckpoint } from './pickers';

interface TargetItem extends QuickPickItem {
    target: 'directive' | 'pyproject';
}

/** The checkpoint as the directive writes it: relative to the file's folder (absolute for an unsaved file). */
export function directivePath(document: TextDocument, checkpoint: Uri): string {
    if (document.uri.scheme !== 'file') {
        return checkpoint.fsPath.split(path.sep).join('/');
    }
    return relativePath(path.dirname(document.uri.fsPath), checkpoint.fsPath);
}

/** Writes the directive for `cls` into `document`; true when the edit was applied. */
export async function writeDirective(document: TextDocument, cls: PythonClass, checkpoint: Uri): Promise<boolean> {
    const lines = splitLines(document.getText());
    const edit = directiveEdit(lines, cls, directivePath(document, checkpoint));
    const workspaceEdit = new WorkspaceEdit();
    if (edit.replace) {
        workspaceEdit.replace(document.uri, new Range(edit.line, 0, edit.line, lines[edit.line].length), edit.text);
    } else {
        const eol = document.eol === EndOfLine.CRLF ? '\r\n' : '\n';
        workspaceEdit.insert(document.uri, new Position(edit.line, 0), edit.text + eol);
    }
    return applyEdit(workspaceEdit);
}

/** Appends a `[[tool.ckptlens.link]]` table to `<folder>/pyproject.toml` (created if needed) and saves it. */
export async function writePyprojectLink(
    folder: Uri,
    source: Uri,
    cls: PythonClass,
    checkpoint: Uri,
): Promise<boolean> {
    const pyproject = Uri.joinPath(folder, 'pyproject.toml');
    const classRef = `${relativePath(folder.fsPath, source.fsPath)}:${cls.name}`;
    const table = pyprojectLinkTable(classRef, relativePath(folder.fsPath, checkpoint.fsPath));
    const existing = await readFile(pyproject);
    const edit = new WorkspaceEdit();
    if (existing === undefined) {
        edit.createFile(pyproject, { ignoreIfExists: true });
        edit.insert(pyproject, new Position(0, 0), table);
    } else {
        const document = await openTextDocument(pyproject);
        const text = document.getText();
        const end = document.lineAt(document.lineCount - 1).range.end;
        edit.insert(pyproject, end, appendToToml(text, table));
    }
    if (!(await applyEdit(edit))) {
        return false;
    }
    // The server reads pyproject.toml from disk.
    const document = await openTextDocument(pyproject);
    return document.save();
}

export type { CheckpointRanker } from './pickers';

export async function linkCheckpoint(rank?: CheckpointRanker): Promise<boolean> {
    const picked = await pickClassAndCheckpoint({
        fileOnly: false,
        classTitle: 'ckptlens: link a checkpoint to which class?',
        checkpointTitle: (name) => `ckptlens: the checkpoint for ${name}`,
        rank,
    });
    if (!picked) {
        return false;
    }
    const { document, lines, cls, checkpoint } = picked;
    const folder = getWorkspaceFolder(document.uri);
    const targets: TargetItem[] = [
        {
            label: `Directive comment above class ${cls.name}`,
            detail: directiveEdit(lines, cls, directivePath(document, checkpoint)).text.trim(),
            target: 'directive',
        },
    ];
    if (folder && document.uri.scheme === 'file') {
        targets.push({
            label: 'Link in pyproject.toml',
            detail: `[[tool.ckptlens.link]] in ${relativePath(path.dirname(document.uri.fsPath), path.join(folder.uri.fsPath, 'pyproject.toml'))}`,
            target: 'pyproject',
        });
    }
    const where = await showQuickPick(targets, { title: 'ckptlens: where to write the link', placeHolder: 'Where' });
    if (!where) {
        return false;
    }
    if (where.target === 'directive') {
        const applied = await writeDirective(document, cls, checkpoint);
        if (applied) {
            traceLog(`Linked ${cls.name} to ${checkpoint.fsPath} with a directive`);
        }
        return applied;
    }
    const written = await writePyprojectLink(folder!.uri, document.uri, cls, checkpoint);
    if (written) {
        traceLog(`Linked ${cls.name} to ${checkpoint.fsPath} in ${folder!.uri.fsPath}/pyproject.toml`);
        const choice = await showInformationMessage(
            `ckptlens: ${cls.name} is linked in pyproject.toml.`,
            'Open pyproject.toml',
        );
        if (choice) {
            await showTextDocument(await openTextDocument(Uri.joinPath(folder!.uri, 'pyproject.toml')));
        }
    }
    return written;
}
