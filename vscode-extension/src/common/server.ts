// Starting, restarting and stopping the language client, one at a time.

import type { Disposable, LogOutputChannel } from 'vscode';
import type { LanguageClientOptions, ServerOptions } from 'vscode-languageclient/node';
import { LanguageClient, RevealOutputChannelOn, State } from 'vscode-languageclient/node';
import { COMMANDS, CONFIG_SECTION, PYTHON_EXTENSION_ID, SERVER_ID, SERVER_NAME } from './constants';
import type { Launch, LaunchPlan, LaunchProblem } from './launch';
import { ckptlensCommand, describeProblem, pipInstallArgs, planLaunch } from './launch';
import { traceError, traceLog, traceWarn } from './logging';
import { createMiddleware } from './middleware';
import type { InterpreterChoice } from './python';
import { resolveInterpreter } from './python';
import { runProcess } from './runner';
import type { ExtensionSettings } from './settings';
import { getExtensionSettings, serverSection } from './settings';
import {
    executeCommand,
    getConfiguration,
    isExtensionInstalled,
    registerCommand,
    showErrorMessage,
    showInformationMessage,
    showWarningMessage,
    withProgress,
} from './vscodeapi';

export type ServerState = 'starting' | 'running' | 'stopped' | 'disabled' | 'failed';

export type ClientFactory = (serverOptions: ServerOptions, clientOptions: LanguageClientOptions) => LanguageClient;

export const defaultClientFactory: ClientFactory = (serverOptions, clientOptions) =>
    new LanguageClient(SERVER_ID, SERVER_NAME, serverOptions, clientOptions);

export function createServerOptions(launch: Launch): ServerOptions {
    const [command, args] = ckptlensCommand(launch, ['lsp']);
    return { command, args, options: { cwd: launch.cwd, env: launch.env } };
}

export interface KeyMappingHooks {
    keyMappingArguments(): Promise<unknown[] | undefined>;
    onKeyMappingResult(applied: unknown, args: unknown[]): void;
}

export function createClientOptions(
    settings: ExtensionSettings,
    outputChannel: LogOutputChannel,
    hooks: KeyMappingHooks,
): LanguageClientOptions {
    const section: unknown = JSON.parse(JSON.stringify(getConfiguration(CONFIG_SECTION)));
    return {
        documentSelector: [
            { scheme: 'file', language: 'python' },
            { scheme: 'untitled', language: 'python' },
        ],
        outputChannel,
        traceOutputChannel: outputChannel,
        revealOutputChannelOn: RevealOutputChannelOn.Never,
        initializationOptions: serverSection(section),
        synchronize: { configurationSection: CONFIG_SECTION },
        middleware: createMiddleware({ severity: settings.severity, ...hooks }),
    };
}

export interface ServerManagerOptions extends KeyMappingHooks {
    extensionRoot: string;
    outputChannel: LogOutputChannel;
    clientFactory?: ClientFactory;
    onDidChangeState?: (state: ServerState) => void;
}

/**
 * Owns the one language client. `restart()` calls are queued, so a burst of changes (interpreter
 * and settings at once) ends with one running server. While no server runs, the command
 * `ckptlens.generateKeyMapping` (which the client registers from the server's capabilities)
 * is held by a stand-in that says why nothing happens.
 */
export class ServerManager implements Disposable {
    private queue: Promise<void> = Promise.resolve();
    private current: LanguageClient | undefined;
    private standIn: Disposable | undefined;
    private stopping = false;
    private disposed = false;
    private stateValue: ServerState = 'stopped';
    private lastLaunch: Launch | undefined;

    constructor(private readonly options: ServerManagerOptions) {
        this.claimCommand();
    }

    get state(): ServerState {
        return this.stateValue;
    }

    get client(): LanguageClient | undefined {
        return this.current;
    }

    /** How the last server was started; used to run `ckptlens inspect` the same way. */
    get launch(): Launch | undefined {
        return this.lastLaunch;
    }

    restart(): Promise<void> {
        this.queue = this.queue.then(
            () => this.doRestart(),
            () => this.doRestart(),
        );
        return this.queue;
    }

    stop(): Promise<void> {
        this.queue = this.queue.then(
            () => this.stopClient(),
            () => this.stopClient(),
        );
        return this.queue;
    }

    dispose(): void {
        this.disposed = true;
        this.releaseCommand();
        void this.stop();
    }

    /** A launch for one-off `ckptlens` runs: the server's, or a fresh plan when none runs. */
    async currentLaunch(): Promise<LaunchPlan> {
        if (this.lastLaunch) {
            return { launch: this.lastLaunch };
        }
        return planLaunch(await resolveInterpreter(), this.options.extensionRoot);
    }

    private setState(state: ServerState): void {
        this.stateValue = state;
        if (!this.disposed) {
            this.options.onDidChangeState?.(state);
        }
    }

    private claimCommand(): void {
        if (this.standIn || this.disposed) {
            return;
        }
        try {
            this.standIn = registerCommand(COMMANDS.generateKeyMapping, () => this.explainNotRunning());
        } catch (err) {
            // The client still holds the command (it is shutting down): it answers meanwhile.
            traceWarn(`Cannot register ${COMMANDS.generateKeyMapping} while the server stops:`, err);
        }
    }

    private releaseCommand(): void {
        this.standIn?.dispose();
        this.standIn = undefined;
    }

    private async explainNotRunning(): Promise<void> {
        const why =
            this.stateValue === 'disabled'
                ? 'ckptlens is disabled (ckptlens.enable).'
                : 'The ckptlens server is not running.';
        const choice = await showWarningMessage(why, 'Show Log', 'Restart');
        if (choice === 'Show Log') {
            this.options.outputChannel.show();
        } else if (choice === 'Restart') {
            await this.restart();
        }
    }

    private async stopClient(): Promise<void> {
        const client = this.current;
        this.current = undefined;
        this.lastLaunch = undefined;
        if (client) {
            this.stopping = true;
            try {
                await client.stop(2000);
            } catch (err) {
                traceError('Stopping the ckptlens server failed:', err);
            } finally {
                this.stopping = false;
            }
            try {
                await client.dispose();
            } catch {
                // already stopped
            }
        }
        this.setState('stopped');
        this.claimCommand();
    }

    private async doRestart(): Promise<void> {
        await this.stopClient();
        if (this.disposed) {
            return;
        }
        const { value: settings, warnings } = getExtensionSettings();
        warnings.forEach((w) => traceWarn(w));
        if (!settings.enable) {
            traceLog('ckptlens is disabled (ckptlens.enable is false): the server is not started');
            this.setState('disabled');
            return;
        }
        this.setState('starting');
        const interpreter = await resolveInterpreter();
        interpreter.warnings.forEach((w) => traceWarn(w));
        traceLog(`Python interpreter (${describeSource(interpreter)}): ${interpreter.command.join(' ')}`);
        const plan = await planLaunch(interpreter, this.options.extensionRoot);
        if (!plan.launch) {
            traceError(describeProblem(plan.problem));
            this.setState('failed');
            void this.offerFix(plan.problem);
            return;
        }
        const launch = plan.launch;
        traceLog(
            launch.mode === 'bundled'
                ? `Starting the bundled server with Python ${launch.pythonVersion ?? '?'}` +
                      (launch.bundle ? ` (libcst from bundled/native/${launch.bundle})` : '')
                : `The bundled libraries do not load in Python ${launch.pythonVersion ?? '?'}; ` +
                      'starting the ckptlens installed in its environment',
        );
        const factory = this.options.clientFactory ?? defaultClientFactory;
        const client = factory(
            createServerOptions(launch),
            createClientOptions(settings, this.options.outputChannel, this.options),
        );
        client.onDidChangeState((e) => {
            if (client === this.current && !this.stopping && e.newState === State.Stopped) {
                traceError('The ckptlens server stopped; run "ckptlens: Restart Server" to start it again');
                this.current = undefined;
                this.lastLaunch = undefined;
                this.setState('failed');
                this.claimCommand();
            }
        });
        this.releaseCommand();
        this.current = client;
        this.lastLaunch = launch;
        try {
            await client.start();
            this.setState('running');
        } catch (err) {
            traceError('The ckptlens server failed to start:', err);
            if (this.current === client) {
                this.current = undefined;
                this.lastLaunch = undefined;
            }
            this.setState('failed');
            this.claimCommand();
        }
    }

    /** The notification shown when the server cannot start with the selected interpreter. */
    async offerFix(problem: LaunchProblem): Promise<void> {
        const install = 'Install ckptlens into this environment';
        const select = 'Select Interpreter';
        const log = 'Show Log';
        const buttons = problem.notRunnable ? [select, log] : [install, select, log];
        const choice = await showErrorMessage(describeProblem(problem), ...buttons);
        if (choice === install) {
            if (await this.install(problem.interpreter)) {
                await this.restart();
            }
        } else if (choice === select) {
            await selectInterpreter();
        } else if (choice === log) {
            this.options.outputChannel.show();
        }
    }

    /** `pip install` the server into the interpreter's environment; true when it worked. */
    async install(interpreter: InterpreterChoice): Promise<boolean> {
        const [command, args] = pipInstallArgs(interpreter, this.options.extensionRoot);
        traceLog(`Running: ${command} ${args.join(' ')}`);
        const result = await withProgress('ckptlens: installing the server into the selected environment…', () =>
            runProcess(command, args, {
                cwd: this.options.extensionRoot,
                timeoutMs: 10 * 60_000,
                onOutput: (chunk) => this.options.outputChannel.info(chunk.trimEnd()),
            }),
        );
        if (result.code === 0) {
            void showInformationMessage('ckptlens was installed into the selected environment.');
            return true;
        }
        traceError(`pip failed (${result.error ?? `exit code ${result.code}`})`);
        const choice = await showErrorMessage(
            'ckptlens could not be installed into the selected environment (see the log). ' +
                'An "externally managed" system Python needs a virtual environment: select one.',
            'Show Log',
            'Select Interpreter',
        );
        if (choice === 'Show Log') {
            this.options.outputChannel.show();
        } else if (choice === 'Select Interpreter') {
            await selectInterpreter();
        }
        return false;
    }
}

function describeSource(interpreter: InterpreterChoice): string {
    switch (interpreter.source) {
        case 'setting':
            return 'from ckptlens.interpreter';
        case 'python-extension':
            return `selected in the Python extension${interpreter.version ? `, ${interpreter.version}` : ''}`;
        default:
            return 'the default, on PATH';
    }
}

/** The Python extension's interpreter picker when it is installed, else the ckptlens setting. */
export async function selectInterpreter(): Promise<void> {
    if (isExtensionInstalled(PYTHON_EXTENSION_ID)) {
        await executeCommand('python.setInterpreter');
    } else {
        await executeCommand('workbench.action.openSettings', `${CONFIG_SECTION}.interpreter`);
    }
}
