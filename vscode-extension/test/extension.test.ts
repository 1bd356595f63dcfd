import './setup';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, it, mock } from 'node:test';
import type { ExtensionContext } from 'vscode';
import { activate, deactivate } from '../src/extension';
import * as launchModule from '../src/common/launch';
import * as python from '../src/common/python';
import { fakeConfiguration, stubApi } from './helpers';
import { Disposable } from './vscode';

// out/test/extension.test.js -> the extension folder
const MANIFEST = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
    activationEvents: string[];
    main: string;
    capabilities: {
        untrustedWorkspaces: { supported: string; restrictedConfigurations: string[] };
        virtualWorkspaces: boolean;
    };
    contributes: {
        commands: { command: string }[];
        configuration: { properties: Record<string, { scope?: string; default?: unknown }> };
    };
    extensionDependencies?: string[];
};

afterEach(() => mock.restoreAll());

type Listener = (e?: unknown) => unknown;

function environment() {
    const commands = new Map<string, (...args: unknown[]) => unknown>();
    const listeners: Record<string, Listener[]> = {};
    const on = (name: string) => (listener: Listener) => {
        (listeners[name] ??= []).push(listener);
        return new Disposable();
    };
    const channel = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, show() {}, dispose() {} };
    stubApi('createOutputChannel', () => channel);
    stubApi('createStatusBarItem', () => ({ show() {}, hide() {}, dispose() {} }));
    stubApi('onDidChangeActiveTextEditor', on('editor'));
    stubApi('onDidChangeDiagnostics', on('diagnostics'));
    stubApi('onDidChangeConfiguration', on('configuration'));
    stubApi('onDidGrantWorkspaceTrust', on('trust'));
    stubApi('getActiveTextEditor', () => undefined);
    stubApi('registerTextDocumentContentProvider', () => new Disposable());
    stubApi('registerCommand', (name: string, callback: (...args: unknown[]) => unknown) => {
        commands.set(name, callback);
        return new Disposable(() => commands.delete(name));
    });
    stubApi('getPythonExtensionApi', () => Promise.resolve(undefined));
    stubApi('getConfiguration', () => fakeConfiguration({ enable: true }));
    stubApi('showErrorMessage', () => Promise.resolve(undefined));
    mock.method(python, 'resolveInterpreter', () =>
        Promise.resolve({ command: ['python3'], source: 'default', warnings: [] }),
    );
    // No real language client in unit tests: every start ends at "interpreter not runnable".
    const planLaunch = mock.method(launchModule, 'planLaunch', () =>
        Promise.resolve({
            problem: {
                interpreter: { command: ['python3'], source: 'default', warnings: [] },
                notRunnable: true,
                reason: 'ENOENT',
            },
        }),
    );
    const context = {
        subscriptions: [] as { dispose(): unknown }[],
        extensionPath: '/ext',
        extension: { packageJSON: { version: '0.1.0' } },
    };
    return { commands, listeners, planLaunch, context };
}

const change =
    (...keys: string[]) =>
    () => ({
        affectsConfiguration: (section: string) => keys.some((k) => k === section || k.startsWith(`${section}.`)),
    });

describe('activate', () => {
    it('registers every contributed command', async () => {
        const env = environment();
        await activate(env.context as unknown as ExtensionContext);
        const contributed = MANIFEST.contributes.commands.map((c) => c.command).sort();
        assert.deepEqual([...env.commands.keys()].sort(), contributed);
        await deactivate();
    });

    it('starts the server once, and again on ckptlens.restart', async () => {
        const env = environment();
        await activate(env.context as unknown as ExtensionContext);
        assert.equal(env.planLaunch.mock.callCount(), 1);
        await env.commands.get('ckptlens.restart')!();
        assert.equal(env.planLaunch.mock.callCount(), 2);
        await deactivate();
    });

    it('restarts for interpreter and enable changes and when the workspace becomes trusted, not for links', async () => {
        const env = environment();
        await activate(env.context as unknown as ExtensionContext);
        const settle = () => new Promise((resolve) => setTimeout(resolve, 5));
        env.listeners.configuration.forEach((l) => l(change('ckptlens.links')()));
        await settle();
        assert.equal(env.planLaunch.mock.callCount(), 1);
        env.listeners.configuration.forEach((l) => l(change('ckptlens.interpreter')()));
        await settle();
        assert.equal(env.planLaunch.mock.callCount(), 2);
        env.listeners.trust.forEach((l) => l());
        await settle();
        assert.equal(env.planLaunch.mock.callCount(), 3);
        await deactivate();
    });
});

describe('package.json', () => {
    it('activates on Python files and on the commands, without depending on the Python extension', () => {
        assert.ok(MANIFEST.activationEvents.includes('onLanguage:python'));
        for (const command of ['generateKeyMapping', 'linkCheckpoint', 'inspectCheckpoint', 'restart']) {
            assert.ok(MANIFEST.activationEvents.includes(`onCommand:ckptlens.${command}`), command);
        }
        assert.equal(MANIFEST.extensionDependencies, undefined);
        assert.equal(MANIFEST.main, './dist/extension.js');
    });

    it('restricts the interpreter setting in untrusted workspaces', () => {
        assert.equal(MANIFEST.capabilities.untrustedWorkspaces.supported, 'limited');
        assert.deepEqual(MANIFEST.capabilities.untrustedWorkspaces.restrictedConfigurations, ['ckptlens.interpreter']);
        assert.equal(MANIFEST.capabilities.virtualWorkspaces, false);
        assert.equal(
            MANIFEST.contributes.configuration.properties['ckptlens.interpreter'].scope,
            'machine-overridable',
        );
    });

    it('declares the settings the extension reads', () => {
        const properties = MANIFEST.contributes.configuration.properties;
        for (const key of ['enable', 'links', 'interpreter', 'severity', 'trace.server']) {
            assert.ok(`ckptlens.${key}` in properties, key);
        }
    });
});
