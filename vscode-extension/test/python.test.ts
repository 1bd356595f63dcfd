import './setup';
import * as assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import type { PythonExtension } from '@vscode/python-extension';
import { defaultPython, resolveInterpreter, watchPythonInterpreter } from '../src/common/python';
import { fakeConfiguration, folder, stubApi } from './helpers';
import { EventEmitter, Uri } from './vscode';

afterEach(() => mock.restoreAll());

interface Scenario {
    trusted?: boolean;
    interpreter?: { globalValue?: unknown; workspaceValue?: unknown };
    /** The Python extension: absent (undefined), or the executable it selected (null: none). */
    pythonExtension?: { executable: string | null; version?: [number, number, number] } | 'throws';
}

function pythonApi(executable: string | null, version?: [number, number, number]) {
    const changed = new EventEmitter<unknown>();
    const getActiveEnvironmentPath = mock.fn((_resource?: Uri) => ({ id: 'env', path: executable ?? '/nowhere' }));
    const api = {
        environments: {
            getActiveEnvironmentPath,
            resolveEnvironment: mock.fn(() =>
                Promise.resolve(
                    executable === null
                        ? undefined
                        : {
                              executable: { uri: Uri.file(executable) },
                              version: version
                                  ? { major: version[0], minor: version[1], micro: version[2] }
                                  : undefined,
                          },
                ),
            ),
            onDidChangeActiveEnvironmentPath: changed.event,
        },
    };
    return { api: api as unknown as PythonExtension, changed, getActiveEnvironmentPath };
}

function given(scenario: Scenario) {
    stubApi('isWorkspaceTrusted', () => scenario.trusted ?? true);
    stubApi('getWorkspaceFolders', () => [folder('/ws')]);
    stubApi('getWorkspaceFolder', () => undefined);
    stubApi('getConfiguration', () => fakeConfiguration({}, { interpreter: scenario.interpreter ?? {} }));
    const ext = scenario.pythonExtension;
    if (ext === 'throws') {
        stubApi('getPythonExtensionApi', () => Promise.reject(new Error('activation failed')));
        return undefined;
    }
    const fake = ext ? pythonApi(ext.executable, ext.version) : undefined;
    stubApi('getPythonExtensionApi', () => Promise.resolve(fake?.api));
    return fake;
}

describe('resolveInterpreter', () => {
    it('uses the interpreter the Python extension selected for the workspace', async () => {
        const fake = given({ pythonExtension: { executable: '/home/u/venvs/ml/bin/python', version: [3, 11, 7] } });
        const choice = await resolveInterpreter();
        assert.deepEqual(choice, {
            command: ['/home/u/venvs/ml/bin/python'],
            source: 'python-extension',
            version: '3.11.7',
            warnings: [],
        });
        assert.equal(fake!.getActiveEnvironmentPath.mock.calls[0].arguments[0]?.toString(), 'file:///ws');
    });

    it('falls back to python3 on PATH without the Python extension', async () => {
        given({ pythonExtension: undefined });
        assert.deepEqual(await resolveInterpreter(), { command: ['python3'], source: 'default', warnings: [] });
    });

    it('falls back to python3 when the Python extension has no interpreter or fails', async () => {
        given({ pythonExtension: { executable: null } });
        assert.equal((await resolveInterpreter()).source, 'default');
        mock.restoreAll();
        given({ pythonExtension: 'throws' });
        assert.deepEqual((await resolveInterpreter()).command, ['python3']);
    });

    it('prefers the ckptlens.interpreter setting over the Python extension', async () => {
        given({
            interpreter: { globalValue: '/opt/py311/bin/python3' },
            pythonExtension: { executable: '/ws/.venv/bin/python' },
        });
        assert.deepEqual(await resolveInterpreter(), {
            command: ['/opt/py311/bin/python3'],
            source: 'setting',
            warnings: [],
        });
    });

    it('ignores a workspace-level interpreter in an untrusted workspace', async () => {
        given({
            trusted: false,
            interpreter: { workspaceValue: '/ws/evil/python' },
            pythonExtension: { executable: '/usr/bin/python3.11' },
        });
        const choice = await resolveInterpreter();
        assert.deepEqual(choice.command, ['/usr/bin/python3.11']);
        assert.equal(choice.source, 'python-extension');
        assert.match(choice.warnings[0], /not trusted/);
    });

    it('keeps the user-level interpreter in an untrusted workspace', async () => {
        given({
            trusted: false,
            interpreter: { globalValue: '/home/u/py/bin/python', workspaceValue: '/ws/evil/python' },
        });
        const choice = await resolveInterpreter();
        assert.deepEqual(choice.command, ['/home/u/py/bin/python']);
        assert.equal(choice.source, 'setting');
    });

    it('does not run an interpreter from inside an untrusted workspace', async () => {
        given({ trusted: false, pythonExtension: { executable: '/ws/.venv/bin/python' } });
        const choice = await resolveInterpreter();
        assert.deepEqual(choice.command, ['python3']);
        assert.equal(choice.source, 'default');
        assert.match(choice.warnings[0], /inside this untrusted workspace/);
    });

    it('runs the same interpreter once the workspace is trusted', async () => {
        given({ trusted: true, pythonExtension: { executable: '/ws/.venv/bin/python' } });
        assert.deepEqual((await resolveInterpreter()).command, ['/ws/.venv/bin/python']);
    });

    it('names python on Windows', () => {
        assert.equal(defaultPython('win32'), 'python');
        assert.equal(defaultPython('linux'), 'python3');
    });
});

describe('watchPythonInterpreter', () => {
    it('calls back when the Python extension selects another interpreter', async () => {
        const fake = given({ pythonExtension: { executable: '/usr/bin/python3' } });
        const onChange = mock.fn();
        const watcher = await watchPythonInterpreter(onChange);
        assert.ok(watcher);
        fake!.changed.fire({ id: 'x', path: '/other/python' });
        assert.equal(onChange.mock.callCount(), 1);
        watcher.dispose();
        fake!.changed.fire({ id: 'y', path: '/third/python' });
        assert.equal(onChange.mock.callCount(), 1);
    });

    it('watches nothing without the Python extension', async () => {
        given({ pythonExtension: undefined });
        assert.equal(await watchPythonInterpreter(() => undefined), undefined);
    });
});
