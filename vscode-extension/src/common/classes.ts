// Pure text helpers for Python classes and ckptlens link directives. The extension only needs
// class names and lines (for pickers and for placing a directive), so a line regex is enough;
// the server does the real parsing.

import * as path from 'path';

export interface PythonClass {
    name: string;
    /** 0-based line of the `class` statement. */
    line: number;
    /** 0-based line of its first decorator (== `line` without decorators). */
    firstLine: number;
    /** The class statement's leading whitespace. */
    indent: string;
}

const CLASS_LINE = /^([ \t]*)class[ \t]+([A-Za-z_]\w*)[ \t]*[(:]/;
const DECORATOR_LINE = /^[ \t]*@/;
const COMMENT_LINE = /^[ \t]*#/;
export const DIRECTIVE_LINE = /^[ \t]*#[ \t]*ckptlens[ \t]*:/;

export function splitLines(text: string): string[] {
    return text.split(/\r?\n/);
}

export function findClasses(lines: readonly string[]): PythonClass[] {
    const classes: PythonClass[] = [];
    lines.forEach((text, line) => {
        const match = CLASS_LINE.exec(text);
        if (!match) {
            return;
        }
        let firstLine = line;
        while (firstLine > 0 && DECORATOR_LINE.test(lines[firstLine - 1])) {
            firstLine--;
        }
        classes.push({ name: match[2], line, firstLine, indent: match[1] });
    });
    return classes;
}

function indentWidth(text: string): number {
    return /^[ \t]*/.exec(text)![0].replace(/\t/g, '        ').length;
}

/** The last line of a class's body (0-based): before the next line indented no deeper than it. */
function lastLineOf(cls: PythonClass, lines: readonly string[]): number {
    const width = indentWidth(lines[cls.line]);
    let last = cls.line;
    for (let line = cls.line + 1; line < lines.length; line++) {
        const text = lines[line];
        if (text.trim() === '' || COMMENT_LINE.test(text)) {
            continue;
        }
        if (indentWidth(text) <= width) {
            break;
        }
        last = line;
    }
    return last;
}

/** The comment block directly above a class (its directive lines), 0-based first line. */
function commentBlockStart(cls: PythonClass, lines: readonly string[]): number {
    let line = cls.firstLine;
    while (line > 0 && COMMENT_LINE.test(lines[line - 1])) {
        line--;
    }
    return line;
}

/** The innermost class whose statement, decorators, directive comments or body hold `line`. */
export function classAtLine(
    lines: readonly string[],
    line: number,
    classes = findClasses(lines),
): PythonClass | undefined {
    let found: PythonClass | undefined;
    for (const cls of classes) {
        if (commentBlockStart(cls, lines) <= line && line <= lastLineOf(cls, lines)) {
            if (!found || cls.line > found.line) {
                found = cls;
            }
        }
    }
    return found;
}

/** A value as a directive field: quoted when it holds whitespace or quotes. */
export function directiveValue(value: string): string {
    if (!/[\s"']/.test(value)) {
        return value;
    }
    return value.includes('"') ? `'${value}'` : `"${value}"`;
}

/** `target` relative to `fromDir`, with `/` separators; absolute when no relative path exists. */
export function relativePath(fromDir: string, target: string): string {
    const relative = path.relative(fromDir, target);
    if (relative === '') {
        return '.';
    }
    if (path.isAbsolute(relative)) {
        return target.split(path.sep).join('/');
    }
    return relative.split(path.sep).join('/');
}

export interface LineEdit {
    /** 0-based line. */
    line: number;
    /** Replace that line (an existing directive) rather than insert before it. */
    replace: boolean;
    /** The line's new text, without the line break. */
    text: string;
}

/**
 * Where and what to write so that `cls` links to `checkpoint` (a path as it should appear):
 * `# ckptlens: checkpoint=<path>` on the line above the class (above its decorators), at the
 * class's indentation; an existing directive there is replaced, keeping its other fields.
 */
export function directiveEdit(lines: readonly string[], cls: PythonClass, checkpoint: string): LineEdit {
    const field = `checkpoint=${directiveValue(checkpoint)}`;
    for (let line = cls.firstLine - 1; line >= 0 && COMMENT_LINE.test(lines[line]); line--) {
        const text = lines[line];
        if (DIRECTIVE_LINE.test(text)) {
            const existing = /checkpoint=("[^"]*"|'[^']*'|\S+)/;
            const updated = existing.test(text) ? text.replace(existing, () => field) : `${text.trimEnd()} ${field}`;
            return { line, replace: true, text: updated };
        }
    }
    return { line: cls.firstLine, replace: false, text: `${cls.indent}# ckptlens: ${field}` };
}

function tomlString(value: string): string {
    return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A `[[tool.ckptlens.link]]` table; `classRef` is `path/to/file.py:ClassName`. */
export function pyprojectLinkTable(classRef: string, checkpoint: string): string {
    return `[[tool.ckptlens.link]]\nclass = ${tomlString(classRef)}\ncheckpoint = ${tomlString(checkpoint)}\n`;
}

/** The text to append to a pyproject.toml holding `existing`, separated by one blank line. */
export function appendToToml(existing: string, table: string): string {
    if (existing.trim() === '') {
        return table;
    }
    const newlines = existing.endsWith('\n\n') ? '' : existing.endsWith('\n') ? '\n' : '\n\n';
    return newlines + table;
}
