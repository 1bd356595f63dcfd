import './setup';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { LogOutputChannel } from 'vscode';
import type {
    LanguageClient,
    LanguageClientOptions,
    ServerOptions,
    StateChangeEvent,
} from 'vscode-languageclient/node';
import { State } from 'vscode-languageclient/node';
import * as launchModule from '../src/common/launch';
import type { Launch, LaunchPlan } from '../src/common/launch';
import * as python from '../src/common/python';
import type { InterpreterChoice } from '../src/common/python';
import * as runner from '../src/common/runner';
import type { ServerState } from '../src/common/server';
import { ServerManager } from '../src/common/server';
import { fakeConfiguration, stubApi } from './helpers';
import { Disposable } from './vscode';

const PYTHON: InterpreterChoice = { command: ['/venv/bin/python'], source: 'python-extension', warnings: [] };
const ROOT = '/ext';

class FakeClient {
    private listeners: ((e: StateChangeEvent) => void)[] = [];
    constructor(
        readonly id: number,
        readonly serverOptions: ServerOptions,
        readonly clientOptions: LanguageClientOptions,
        private readonly events: string[],
        private readonly startResult: () => Promise<void>,
    ) {}
    onDidChangeState(listener: (e: StateChangeEvent) => void) {
        this.listeners.push(listener);
        return new Disposable();
    }
    async start() {
        this.events.push(`start ${this.id}`);
        await this.startResult();
        this.events.push(`running ${this.id}`);
    }
    stop() {
        this.events.push(`stop ${this.id}`);
        return Promise.resolve();
    }
    dispose() {
        return Promise.resolve();
    }
    crash() {
        this.listeners.forEach((l) => l({ oldState: State.Running, newState: State.Stopped }));
    }
}

function bundledLaunch(): Launch {
    return {
        command: '/venv/bin/python',
        pythonArgs: [],
        env: { PYTHONPATH: path.join(ROOT, 'bundled', 'libs'), PYTHONSAFEPATH: '1' },
        cwd: ROOT,
        mode: 'bundled',
        interpreter: PYTHON,
        pythonVersion: '3.11.7',
    };
}

interface Harness {
    manager: ServerManager;
    clients: FakeClient[];
    events: string[];
    states: ServerState[];
    commands: Map<string, () => unknown>;
    planLaunch: ReturnType<typeof mock.fn>;
    channel: { shown: number };
}

let settings: Record<string, unknown>;
let plans: LaunchPlan[];
let startResult: () => Promise<void>;

function harness(): Harness {
    const events: string[] = [];
    const clients: FakeClient[] = [];
    const states: ServerState[] = [];
    const commands = new Map<string, () => unknown>();
    stubApi('getConfiguration', () => fakeConfiguration(settings));
    stubApi('registerCommand', (name: string, callback: () => unknown) => {
        if (commands.has(name)) {
            throw new Error(`command '${name}' already exists`);
        }
        commands.set(name, callback);
        events.push(`register ${name}`);
        return new Disposable(() => {
            commands.delete(name);
            events.push(`release ${name}`);
        });
    });
    mock.method(python, 'resolveInterpreter', () => Promise.resolve(PYTHON));
    const planLaunch = mock.method(launchModule, 'planLaunch', () =>
        Promise.resolve(plans.length > 1 ? plans.shift()! : plans[0]),
    ) as unknown as ReturnType<typeof mock.fn>;
    const channel = {
        shown: 0,
        show() {
            channel.shown++;
        },
        info() {},
    };
    const manager = new ServerManager({
        extensionRoot: ROOT,
        outputChannel: channel as unknown as LogOutputChannel,
        clientFactory: (serverOptions, clientOptions) => {
            const client = new FakeClient(clients.length + 1, serverOptions, clientOptions, events, startResult);
            clients.push(client);
            return client as unknown as LanguageClient;
        },
        onDidChangeState: (state) => states.push(state),
        keyMappingArguments: () => Promise.resolve(undefined),
        onKeyMappingResult: () => undefined,
    });
    return { manager, clients, events, states, commands, planLaunch, channel };
}

beforeEach(() => {
    settings = { enable: true };
    plans = [{ launch: bundledLaunch() }];
    startResult = () => Promise.resolve();
});
afterEach(() => mock.restoreAll());

describe('ServerManager', () => {
    it('starts `<python> -m ckptlens lsp` with the bundled libraries on PYTHONPATH', async () => {
        const h = harness();
        await h.manager.restart();

        assert.equal(h.manager.state, 'running');
        assert.equal(h.clients.length, 1);
        const options = h.clients[0].serverOptions as {
            command: string;
            args: string[];
            options: { cwd: string; env: NodeJS.ProcessEnv };
        };
        assert.equal(options.command, '/venv/bin/python');
        assert.deepEqual(options.args, ['-m', 'ckptlens', 'lsp']);
        assert.equal(options.options.env.PYTHONPATH, path.join(ROOT, 'bundled', 'libs'));
        assert.equal(options.options.cwd, ROOT);
        const client = h.clients[0].clientOptions;
        assert.deepEqual(client.documentSelector, [
            { scheme: 'file', language: 'python' },
            { scheme: 'untitled', language: 'python' },
        ]);
        assert.equal(client.outputChannel, client.traceOutputChannel);
        assert.deepEqual(client.synchronize, { configurationSection: 'ckptlens' });
        assert.deepEqual(h.states, ['stopped', 'starting', 'running']);
    });

    it('gives ckptlens.generateKeyMapping to the client before it starts', async () => {
        const h = harness();
        assert.ok(h.commands.has('ckptlens.generateKeyMapping'), 'a stand-in holds the command while no server runs');
        await h.manager.restart();
        assert.equal(h.commands.has('ckptlens.generateKeyMapping'), false);
        assert.ok(h.events.indexOf('release ckptlens.generateKeyMapping') < h.events.indexOf('start 1'));
    });

    it('restart stops the running client before starting the next one', async () => {
        const h = harness();
        await h.manager.restart();
        await h.manager.restart();
        assert.deepEqual(
            h.events.filter((e) => !e.includes('ckptlens.generateKeyMapping')),
            ['start 1', 'running 1', 'stop 1', 'start 2', 'running 2'],
        );
        assert.equal(h.manager.client, h.clients[1]);
    });

    it('runs overlapping restarts one after the other, ending with one server', async () => {
        const h = harness();
        let release!: () => void;
        startResult = () => new Promise((resolve) => (release = resolve));
        const first = h.manager.restart();
        const second = h.manager.restart();
        await new Promise((resolve) => setImmediate(resolve));
        assert.equal(h.clients.length, 1, 'the second restart waits for the first');
        release();
        await new Promise((resolve) => setImmediate(resolve));
        release();
        await Promise.all([first, second]);
        assert.deepEqual(
            h.events.filter((e) => !e.includes('ckptlens.generateKeyMapping')),
            ['start 1', 'running 1', 'stop 1', 'start 2', 'running 2'],
        );
        assert.equal(h.manager.state, 'running');
    });

    it('starts nothing when ckptlens.enable is false', async () => {
        settings = { enable: false };
        const h = harness();
        await h.manager.restart();
        assert.equal(h.clients.length, 0);
        assert.equal(h.manager.state, 'disabled');
        assert.ok(h.commands.has('ckptlens.generateKeyMapping'));
    });

    it('offers to install ckptlens when the interpreter cannot run the bundle, then restarts', async () => {
        plans = [
            {
                problem: {
                    interpreter: PYTHON,
                    notRunnable: false,
                    pythonVersion: '3.9.18',
                    platform: 'linux',
                    reason: 'SyntaxError',
                },
            },
            { launch: bundledLaunch() },
        ];
        const h = harness();
        let offered: unknown[] = [];
        let answered!: () => void;
        const done = new Promise<void>((resolve) => (answered = resolve));
        stubApi('showErrorMessage', (message: string, ...items: string[]) => {
            offered = [message, ...items];
            answered();
            return Promise.resolve('Install ckptlens into this environment');
        });
        stubApi('withProgress', (_title: string, task: () => Promise<unknown>) => task());
        stubApi('showInformationMessage', () => Promise.resolve(undefined));
        const pip = mock.method(runner, 'runProcess', () => Promise.resolve({ code: 0, stdout: '', stderr: '' }));

        await h.manager.restart();
        assert.equal(h.manager.state, 'failed');
        await done;
        const state = (): ServerState => h.manager.state;
        for (let i = 0; i < 200 && state() !== 'running'; i++) {
            await new Promise((resolve) => setTimeout(resolve, 5));
        }

        assert.match(String(offered[0]), /Python 3\.9\.18/);
        assert.deepEqual(offered.slice(1), [
            'Install ckptlens into this environment',
            'Select Interpreter',
            'Show Log',
        ]);
        const [command, args] = pip.mock.calls[0].arguments as [string, string[]];
        assert.equal(command, '/venv/bin/python');
        assert.deepEqual(args.slice(0, 4), ['-m', 'pip', 'install', '--upgrade']);
        assert.equal(h.manager.state, 'running');
        assert.equal(h.planLaunch.mock.callCount(), 2);
        assert.equal(h.clients.length, 1);
    });

    it('reports a server that fails to start and holds the command again', async () => {
        startResult = () => Promise.reject(new Error('Pending response rejected since connection got disposed'));
        const h = harness();
        await h.manager.restart();
        assert.equal(h.manager.state, 'failed');
        assert.equal(h.manager.client, undefined);
        assert.ok(h.commands.has('ckptlens.generateKeyMapping'));
    });

    it('notices a server that stopped on its own', async () => {
        const h = harness();
        await h.manager.restart();
        h.clients[0].crash();
        assert.equal(h.manager.state, 'failed');
        assert.ok(h.commands.has('ckptlens.generateKeyMapping'));
    });

    it('the stand-in command explains and restarts on request', async () => {
        settings = { enable: false };
        const h = harness();
        await h.manager.restart();
        stubApi('showWarningMessage', () => Promise.resolve('Restart'));
        settings = { enable: true };
        await h.commands.get('ckptlens.generateKeyMapping')!();
        assert.equal(h.manager.state, 'running');
    });
});
