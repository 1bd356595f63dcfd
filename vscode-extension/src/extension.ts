// Wiring only: the output channel, the server manager, the commands, the status bar item and
// the events that restart the server. Behaviour lives in `common/`.

import type { ExtensionContext } from 'vscode';
import { generateKeyMappingHooks } from './common/commands/generateKeyMapping';
import { inspectCheckpoint } from './common/commands/inspectCheckpoint';
import { findCheckpoints } from './common/commands/findCheckpoints';
import type { CheckpointRanker } from './common/commands/linkCheckpoint';
import { linkCheckpoint } from './common/commands/linkCheckpoint';
import { writeFixedCheckpoint } from './common/commands/writeFixedCheckpoint';
import { COMMANDS, CONFIG_SECTION, INSPECT_SCHEME, SERVER_NAME } from './common/constants';
import { InspectContentProvider } from './common/inspectView';
import { registerLogger, traceError, traceLog, traceWarn } from './common/logging';
import { watchPythonInterpreter } from './common/python';
import { ServerManager } from './common/server';
import { getExtensionSettings, getInterpreterSetting, isRestartSetting } from './common/settings';
import { CheckpointStatus } from './common/statusBar';
import {
    createOutputChannel,
    getWorkspaceFolders,
    onDidChangeConfiguration,
    onDidGrantWorkspaceTrust,
    registerCommand,
    registerTextDocumentContentProvider,
    withProgress,
} from './common/vscodeapi';

let manager: ServerManager | undefined;

export async function activate(context: ExtensionContext): Promise<void> {
    const outputChannel = createOutputChannel(SERVER_NAME);
    context.subscriptions.push(outputChannel, registerLogger(outputChannel));
    traceLog(
        `ckptlens ${String((context.extension.packageJSON as { version?: unknown }).version)} (extension at ${context.extensionPath})`,
    );

    const status = new CheckpointStatus();
    const server = new ServerManager({
        extensionRoot: context.extensionPath,
        outputChannel,
        onDidChangeState: (state) => status.setState(state),
        ...generateKeyMappingHooks,
    });
    manager = server;
    const inspectView = new InspectContentProvider();
    // The pickers list the workspace's checkpoints ranked by fit (`ckptlens find`).
    const rank: CheckpointRanker = async (source, className) =>
        await withProgress(`ckptlens: ranking checkpoints for ${className}…`, () =>
            findCheckpoints(
                server,
                source.fsPath,
                className,
                getWorkspaceFolders().map((f) => f.uri.fsPath),
            ),
        );
    context.subscriptions.push(
        status,
        server,
        inspectView,
        registerTextDocumentContentProvider(INSPECT_SCHEME, inspectView),
        registerCommand(COMMANDS.restart, () => server.restart()),
        registerCommand(COMMANDS.linkCheckpoint, () => linkCheckpoint(rank)),
        registerCommand(COMMANDS.writeFixedCheckpoint, () => writeFixedCheckpoint(server, rank)),
        registerCommand(COMMANDS.inspectCheckpoint, (target) => inspectCheckpoint(server, inspectView, target)),
        registerCommand(COMMANDS.showLog, () => outputChannel.show()),
        onDidChangeConfiguration((e) => {
            if (isRestartSetting(e)) {
                traceLog('ckptlens settings changed: restarting the server');
                void server.restart();
            } else if (e.affectsConfiguration(CONFIG_SECTION)) {
                getExtensionSettings().warnings.forEach((w) => traceWarn(w));
            }
        }),
        onDidGrantWorkspaceTrust(() => {
            traceLog('The workspace is trusted now: restarting the server');
            void server.restart();
        }),
    );

    const watcher = await watchPythonInterpreter(() => {
        if (getInterpreterSetting().command.length === 0) {
            traceLog('The Python extension selected another interpreter: restarting the server');
            void server.restart();
        }
    });
    if (watcher) {
        context.subscriptions.push(watcher);
    }

    try {
        await server.restart();
    } catch (err) {
        traceError('Starting the ckptlens server failed:', err);
    }
}

export async function deactivate(): Promise<void> {
    await manager?.stop();
    manager = undefined;
}
