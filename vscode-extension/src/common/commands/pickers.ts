// The pickers the commands share: a class of the active file, a checkpoint file or folder.

import * as path from 'path';
import type { QuickPickItem, TextDocument, Uri } from 'vscode';
import { QuickPickItemKind, Uri as UriClass } from 'vscode';
import type { PythonClass } from '../classes';
import { classAtLine, findClasses, splitLines } from '../classes';
import { CHECKPOINT_EXTENSIONS } from '../constants';
import {
    findFiles,
    getActiveTextEditor,
    getWorkspaceFolder,
    showOpenDialog,
    showQuickPick,
    showWarningMessage,
} from '../vscodeapi';
import type { RankedCheckpoint } from './findCheckpoints';
import { fitLabel } from './findCheckpoints';

/** Ranks the workspace's checkpoints for a class of a file (`ckptlens find`), best first. */
export type CheckpointRanker = (source: Uri, className: string) => Promise<RankedCheckpoint[]>;

/** A class of the active Python file and a checkpoint for it, as the user picked them. */
export interface ClassAndCheckpoint {
    document: TextDocument;
    lines: string[];
    cls: PythonClass;
    checkpoint: Uri;
}

/**
 * The first steps of the commands that act on a class and a checkpoint: the active Python file
 * (`fileOnly`: saved on disk), its class (the only one, or picked, the one under the cursor
 * first), then a checkpoint ranked for that class. Undefined when the user stops (or there is
 * nothing to pick, said in a warning).
 */
export async function pickClassAndCheckpoint(options: {
    fileOnly: boolean;
    classTitle: string;
    checkpointTitle: (className: string) => string;
    rank?: CheckpointRanker;
}): Promise<ClassAndCheckpoint | undefined> {
    const editor = getActiveTextEditor();
    const document = editor?.document;
    if (
        !editor ||
        !document ||
        document.languageId !== 'python' ||
        (options.fileOnly && document.uri.scheme !== 'file')
    ) {
        void showWarningMessage('ckptlens: open the Python file that defines the model class first.');
        return undefined;
    }
    const lines = splitLines(document.getText());
    const classes = findClasses(lines);
    if (classes.length === 0) {
        void showWarningMessage('ckptlens: there is no class in this file.');
        return undefined;
    }
    const underCursor = classAtLine(lines, editor.selection.active.line, classes);
    const cls = classes.length === 1 ? classes[0] : await pickClass(classes, options.classTitle, underCursor);
    if (!cls) {
        return undefined;
    }
    const ranked = options.rank && document.uri.scheme === 'file' ? await options.rank(document.uri, cls.name) : [];
    const checkpoint = await pickCheckpoint(
        options.checkpointTitle(cls.name),
        UriClass.joinPath(document.uri, '..'),
        ranked,
        cls.name,
    );
    return checkpoint ? { document, lines, cls, checkpoint } : undefined;
}

interface ClassItem extends QuickPickItem {
    cls: PythonClass;
}

/** A quick pick of `classes`, `preferred` (the class under the cursor) first. */
export async function pickClass(
    classes: readonly PythonClass[],
    title: string,
    preferred?: PythonClass,
): Promise<PythonClass | undefined> {
    const ordered = preferred ? [preferred, ...classes.filter((c) => c !== preferred)] : [...classes];
    const items: ClassItem[] = ordered.map((cls) => ({
        label: `$(symbol-class) ${cls.name}`,
        description: `line ${cls.line + 1}`,
        cls,
    }));
    const picked = await showQuickPick(items, { title, placeHolder: 'Class' });
    return picked?.cls;
}

export const CHECKPOINT_GLOB = `**/*.{${CHECKPOINT_EXTENSIONS.join(',')}}`;
const EXCLUDE_GLOB = '**/{node_modules,.git,.venv,venv,__pycache__,.tox}/**';
const MAX_LISTED = 200;
const FIT_ICONS = { exact: 'pass-filled', mapped: 'pass', partial: 'warning', unrelated: 'circle-slash' } as const;

interface CheckpointItem extends QuickPickItem {
    action: 'file' | 'folder' | 'uri' | 'none';
    uri?: Uri;
}

/**
 * A checkpoint: one of the workspace's checkpoint files, or a file or folder (sharded or
 * `from_pretrained` layouts) from the open dialog. `ranked` (from `ckptlens find`) lists the
 * checkpoints that fit the class first, best first, with their fit.
 */
export async function pickCheckpoint(
    title: string,
    near?: Uri,
    ranked: readonly RankedCheckpoint[] = [],
    className?: string,
): Promise<Uri | undefined> {
    const found = await findFiles(CHECKPOINT_GLOB, EXCLUDE_GLOB, MAX_LISTED);
    const rankedItems: CheckpointItem[] = [];
    const rankedPaths = new Set<string>();
    for (const c of ranked) {
        const uri = UriClass.file(c.checkpoint);
        const folder = getWorkspaceFolder(uri);
        rankedPaths.add(uri.fsPath);
        rankedItems.push({
            label: `$(${FIT_ICONS[c.fit]}) ${path.basename(uri.fsPath)}`,
            description: `${fitLabel(c)} · ${
                folder ? path.relative(folder.uri.fsPath, path.dirname(uri.fsPath)) || '.' : path.dirname(uri.fsPath)
            }`,
            action: 'uri',
            uri,
        });
    }
    const items: CheckpointItem[] = [
        { label: '$(file) Browse for a checkpoint file…', action: 'file' },
        {
            label: '$(folder) Browse for a checkpoint folder…',
            description: 'sharded or from_pretrained layout',
            action: 'folder',
        },
    ];
    if (rankedItems.length > 0) {
        items.push({
            label: className ? `Ranked by fit for ${className}` : 'Ranked by fit',
            kind: QuickPickItemKind.Separator,
            action: 'none',
        });
        items.push(...rankedItems);
    }
    const rest = found.filter((uri) => !rankedPaths.has(uri.fsPath));
    if (rest.length > 0) {
        items.push({ label: 'In this workspace', kind: QuickPickItemKind.Separator, action: 'none' });
        const sorted = [...rest].sort((a, b) => a.fsPath.localeCompare(b.fsPath));
        for (const uri of sorted) {
            const folder = getWorkspaceFolder(uri);
            items.push({
                label: `$(database) ${path.basename(uri.fsPath)}`,
                description: folder
                    ? path.relative(folder.uri.fsPath, path.dirname(uri.fsPath)) || '.'
                    : path.dirname(uri.fsPath),
                action: 'uri',
                uri,
            });
        }
    }
    const picked = await showQuickPick(items, { title, placeHolder: 'Checkpoint', matchOnDescription: true });
    if (!picked || picked.action === 'none') {
        return undefined;
    }
    if (picked.action === 'uri') {
        return picked.uri;
    }
    const folder = picked.action === 'folder';
    const chosen = await showOpenDialog({
        title,
        defaultUri: near,
        canSelectFiles: !folder,
        canSelectFolders: folder,
        canSelectMany: false,
        openLabel: 'Use this checkpoint',
        filters: folder ? undefined : { Checkpoints: CHECKPOINT_EXTENSIONS, 'All files': ['*'] },
    });
    return chosen?.[0];
}
