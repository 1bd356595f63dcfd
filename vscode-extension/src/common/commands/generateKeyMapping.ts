// `ckptlens.generateKeyMapping` from the palette or the editor menu: the server command of the
// same name, run with the active document and the class under the cursor. (The code lens calls
// it with its own arguments.) The server inserts the mapping through workspace/applyEdit.

import { classAtLine, findClasses, splitLines } from '../classes';
import { getActiveTextEditor, showInformationMessage, showWarningMessage } from '../vscodeapi';
import { pickClass } from './pickers';

/** `[documentUri, className]`, or undefined when there is nothing to run it on. */
export async function keyMappingArguments(): Promise<unknown[] | undefined> {
    const editor = getActiveTextEditor();
    if (!editor || editor.document.languageId !== 'python') {
        void showWarningMessage('ckptlens: open the Python file of the model class, with the cursor in the class.');
        return undefined;
    }
    const lines = splitLines(editor.document.getText());
    const classes = findClasses(lines);
    let cls = classAtLine(lines, editor.selection.active.line, classes);
    if (!cls && classes.length === 1) {
        cls = classes[0];
    } else if (!cls && classes.length > 1) {
        cls = await pickClass(classes, 'ckptlens: generate a key mapping for which class?');
    }
    if (!cls) {
        if (classes.length === 0) {
            void showWarningMessage('ckptlens: there is no class in this file.');
        }
        return undefined;
    }
    return [editor.document.uri.toString(), cls.name];
}

export function onKeyMappingResult(applied: unknown, args: unknown[]): void {
    if (applied === false) {
        void showInformationMessage(
            `ckptlens: no key mapping to generate for ${String(args[1])}: it has no linked checkpoint, or its checkpoint already fits.`,
        );
    }
}

export const generateKeyMappingHooks = { keyMappingArguments, onKeyMappingResult };
