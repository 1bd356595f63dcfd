// The `ckptlens.*` settings, parsed once into defaulted values. A bad value never stops the
// extension: it is replaced by its default and reported as one warning in the log.

import * as os from 'os';
import type { ConfigurationChangeEvent, Uri, WorkspaceFolder } from 'vscode';
import { CONFIG_SECTION } from './constants';
import { getConfiguration, getWorkspaceFolder, getWorkspaceFolders, isWorkspaceTrusted } from './vscodeapi';

export type Severity = 'error' | 'warning' | 'information' | 'hint';
export const SEVERITIES: readonly Severity[] = ['error', 'warning', 'information', 'hint'];
export type TraceLevel = 'off' | 'messages' | 'verbose';

/** One entry of `ckptlens.links`, as the server reads it (`class = "models/net.py:Net"`). */
export interface LinkSetting {
    class: string;
    checkpoint: string;
    config?: string;
    init?: Record<string, unknown>;
}

export interface ExtensionSettings {
    enable: boolean;
    links: LinkSetting[];
    /** finding code -> the severity the editor shows instead of the server's. */
    severity: Record<string, Severity>;
    trace: TraceLevel;
}

export interface Parsed<T> {
    value: T;
    warnings: string[];
}

export const DEFAULT_SETTINGS: ExtensionSettings = Object.freeze({
    enable: true,
    links: [],
    severity: {},
    trace: 'off',
});

/** Settings the extension handles itself; the server is not sent them. */
export const CLIENT_ONLY_SETTINGS = ['interpreter', 'severity', 'trace'] as const;

/** Settings whose change needs a new server process (the others reach the running one). */
export const RESTART_SETTINGS = ['interpreter', 'enable', 'severity'] as const;

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
    try {
        return JSON.stringify(value) ?? String(value);
    } catch {
        return String(value);
    }
}

export function parseLinks(raw: unknown): Parsed<LinkSetting[]> {
    if (raw === undefined || raw === null) {
        return { value: [], warnings: [] };
    }
    if (!Array.isArray(raw)) {
        return { value: [], warnings: [`ckptlens.links: expected a list, got ${describe(raw)}; using []`] };
    }
    const links: LinkSetting[] = [];
    const warnings: string[] = [];
    raw.forEach((entry: unknown, i) => {
        const where = `ckptlens.links[${i}]`;
        if (!isRecord(entry) || typeof entry.class !== 'string' || typeof entry.checkpoint !== 'string') {
            warnings.push(`${where}: needs "class": "path/to/file.py:ClassName" and "checkpoint": "path"; ignored`);
            return;
        }
        if (!/:[A-Za-z_]\w*$/.test(entry.class)) {
            warnings.push(
                `${where}: "class" must look like "path/to/file.py:ClassName", got ${describe(entry.class)}; ignored`,
            );
            return;
        }
        const link: LinkSetting = { class: entry.class, checkpoint: entry.checkpoint };
        if (entry.config !== undefined) {
            if (typeof entry.config === 'string') {
                link.config = entry.config;
            } else {
                warnings.push(`${where}: "config" must be a path; ignored`);
            }
        }
        if (entry.init !== undefined) {
            if (isRecord(entry.init)) {
                link.init = { ...entry.init };
            } else {
                warnings.push(`${where}: "init" must be an object of constructor arguments; ignored`);
            }
        }
        links.push(link);
    });
    return { value: links, warnings };
}

export function parseSeverity(raw: unknown): Parsed<Record<string, Severity>> {
    if (raw === undefined || raw === null) {
        return { value: {}, warnings: [] };
    }
    if (!isRecord(raw)) {
        return {
            value: {},
            warnings: [
                `ckptlens.severity: expected an object of finding code -> severity, got ${describe(raw)}; using {}`,
            ],
        };
    }
    const value: Record<string, Severity> = {};
    const warnings: string[] = [];
    for (const [code, severity] of Object.entries(raw)) {
        if (typeof severity === 'string' && (SEVERITIES as readonly string[]).includes(severity)) {
            value[code] = severity as Severity;
        } else {
            warnings.push(
                `ckptlens.severity.${code}: expected one of ${SEVERITIES.join(', ')}, got ${describe(severity)}; ignored`,
            );
        }
    }
    return { value, warnings };
}

/** Pure: the `ckptlens` section (as `getConfiguration` returns it) -> settings + warnings. */
export function parseSettings(section: { get(key: string): unknown }): Parsed<ExtensionSettings> {
    const warnings: string[] = [];
    const enableRaw = section.get('enable');
    let enable = DEFAULT_SETTINGS.enable;
    if (typeof enableRaw === 'boolean') {
        enable = enableRaw;
    } else if (enableRaw !== undefined && enableRaw !== null) {
        warnings.push(`ckptlens.enable: expected true or false, got ${describe(enableRaw)}; using true`);
    }
    const links = parseLinks(section.get('links'));
    const severity = parseSeverity(section.get('severity'));
    const traceRaw = section.get('trace.server');
    let trace: TraceLevel = DEFAULT_SETTINGS.trace;
    if (traceRaw === 'off' || traceRaw === 'messages' || traceRaw === 'verbose') {
        trace = traceRaw;
    } else if (traceRaw !== undefined && traceRaw !== null) {
        warnings.push(`ckptlens.trace.server: expected off, messages or verbose, got ${describe(traceRaw)}; using off`);
    }
    warnings.push(...links.warnings, ...severity.warnings);
    return { value: { enable, links: links.value, severity: severity.value, trace }, warnings };
}

export function getExtensionSettings(resource?: Uri): Parsed<ExtensionSettings> {
    return parseSettings(getConfiguration(CONFIG_SECTION, resource));
}

/** The workspace folder a resource belongs to, or the first one. */
export function getProjectFolder(resource?: Uri): WorkspaceFolder | undefined {
    return (resource && getWorkspaceFolder(resource)) ?? getWorkspaceFolders()[0];
}

export function resolveVariables(value: string, folder: WorkspaceFolder | undefined, env = process.env): string {
    return value
        .replace(/\$\{workspaceFolder\}/g, () => folder?.uri.fsPath ?? '${workspaceFolder}')
        .replace(/\$\{userHome\}/g, () => os.homedir())
        .replace(/\$\{env:([^}]+)\}/g, (_m, name: string) => env[name] ?? '')
        .replace(/^~(?=$|[\\/])/, () => os.homedir());
}

function asCommand(raw: unknown): string[] | undefined {
    if (typeof raw === 'string') {
        return raw.trim() ? [raw.trim()] : [];
    }
    if (Array.isArray(raw) && raw.every((part) => typeof part === 'string')) {
        return raw.filter((part) => part.length > 0);
    }
    return undefined;
}

export interface InterpreterSetting {
    /** The interpreter command (executable, then any arguments), empty when none is set. */
    command: string[];
    /** Where it came from, for the log. */
    origin: 'user' | 'workspace' | 'workspaceFolder' | 'none';
    warnings: string[];
}

/**
 * `ckptlens.interpreter`, read with `inspect()` so that in an untrusted workspace only the
 * user's own (global) value counts: a workspace must not choose what the extension executes.
 */
export function getInterpreterSetting(resource?: Uri): InterpreterSetting {
    const folder = getProjectFolder(resource);
    const inspected = getConfiguration(CONFIG_SECTION, resource ?? folder?.uri).inspect<unknown>('interpreter');
    const trusted = isWorkspaceTrusted();
    const warnings: string[] = [];
    const candidates: [InterpreterSetting['origin'], unknown][] = [
        ['workspaceFolder', inspected?.workspaceFolderValue],
        ['workspace', inspected?.workspaceValue],
        ['user', inspected?.globalValue],
    ];
    for (const [origin, raw] of candidates) {
        if (raw === undefined || raw === null) {
            continue;
        }
        if (origin !== 'user' && !trusted) {
            warnings.push(`ckptlens.interpreter: the ${origin} value is ignored because the workspace is not trusted`);
            continue;
        }
        const command = asCommand(raw);
        if (command === undefined) {
            warnings.push(`ckptlens.interpreter: expected a path or a list of strings, got ${describe(raw)}; ignored`);
            continue;
        }
        if (command.length === 0) {
            continue;
        }
        return { command: command.map((part) => resolveVariables(part, folder)), origin, warnings };
    }
    return { command: [], origin: 'none', warnings };
}

export function isRestartSetting(e: ConfigurationChangeEvent): boolean {
    return RESTART_SETTINGS.some((key) => e.affectsConfiguration(`${CONFIG_SECTION}.${key}`));
}

export function isServerSetting(e: ConfigurationChangeEvent): boolean {
    return e.affectsConfiguration(CONFIG_SECTION) && !isRestartSetting(e);
}

/** The `ckptlens` section as the server should see it: client-only keys removed, links checked. */
export function serverSection(raw: unknown): Record<string, unknown> {
    const section: Record<string, unknown> = isRecord(raw) ? { ...raw } : {};
    for (const key of CLIENT_ONLY_SETTINGS) {
        delete section[key];
    }
    section.links = parseLinks(section.links).value;
    return section;
}
