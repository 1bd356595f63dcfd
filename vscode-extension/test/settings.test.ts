import './setup';
import * as assert from 'node:assert/strict';
import * as os from 'node:os';
import { afterEach, describe, it, mock } from 'node:test';
import {
    DEFAULT_SETTINGS,
    getExtensionSettings,
    getInterpreterSetting,
    isRestartSetting,
    parseSettings,
    resolveVariables,
    serverSection,
} from '../src/common/settings';
import { fakeConfiguration, folder, stubApi } from './helpers';

afterEach(() => mock.restoreAll());

describe('parseSettings', () => {
    it('gives the defaults for an empty section, without warnings', () => {
        const { value, warnings } = parseSettings(fakeConfiguration());
        assert.deepEqual(value, DEFAULT_SETTINGS);
        assert.deepEqual(warnings, []);
    });

    it('reads valid values', () => {
        const { value, warnings } = parseSettings(
            fakeConfiguration({
                enable: false,
                links: [
                    { class: 'models/net.py:Net', checkpoint: 'ckpts/net.pt', init: { hidden: 64 }, config: 'c.json' },
                ],
                severity: { 'unexpected-key': 'warning', 'key-prefix': 'hint' },
                'trace.server': 'verbose',
            }),
        );
        assert.deepEqual(warnings, []);
        assert.equal(value.enable, false);
        assert.deepEqual(value.links, [
            { class: 'models/net.py:Net', checkpoint: 'ckpts/net.pt', init: { hidden: 64 }, config: 'c.json' },
        ]);
        assert.deepEqual(value.severity, { 'unexpected-key': 'warning', 'key-prefix': 'hint' });
        assert.equal(value.trace, 'verbose');
    });

    it('replaces bad values by their defaults, one warning each', () => {
        const { value, warnings } = parseSettings(
            fakeConfiguration({ enable: 'yes', links: 'ckpts/net.pt', severity: ['error'], 'trace.server': 'loud' }),
        );
        assert.deepEqual(value, DEFAULT_SETTINGS);
        assert.equal(warnings.length, 4);
        assert.match(warnings.join('\n'), /ckptlens\.enable: expected true or false, got "yes"; using true/);
        assert.match(warnings.join('\n'), /ckptlens\.links: expected a list/);
        assert.match(warnings.join('\n'), /ckptlens\.severity: expected an object/);
        assert.match(warnings.join('\n'), /ckptlens\.trace\.server: expected off, messages or verbose/);
    });

    it('keeps the good entries of links and severity and warns about the others', () => {
        const { value, warnings } = parseSettings(
            fakeConfiguration({
                links: [
                    { class: 'net.py:Net', checkpoint: 'a.pt' },
                    { class: 'net.py:Net' },
                    { class: 'Net', checkpoint: 'a.pt' },
                    'net.py:Net=a.pt',
                    { class: 'net.py:Other', checkpoint: 'b.pt', init: 'hidden=3', config: 7 },
                ],
                severity: { 'missing-key': 'warning', 'shape-mismatch': 'fatal', 'key-prefix': 2 },
            }),
        );
        assert.deepEqual(value.links, [
            { class: 'net.py:Net', checkpoint: 'a.pt' },
            { class: 'net.py:Other', checkpoint: 'b.pt' },
        ]);
        assert.deepEqual(value.severity, { 'missing-key': 'warning' });
        assert.equal(warnings.length, 7, warnings.join('\n'));
        assert.ok(warnings.some((w) => w.startsWith('ckptlens.links[1]: needs "class"')));
        assert.ok(warnings.some((w) => w.startsWith('ckptlens.links[2]: "class" must look like')));
        assert.ok(warnings.some((w) => w.startsWith('ckptlens.links[4]: "init" must be an object')));
        assert.ok(warnings.some((w) => w.startsWith('ckptlens.links[4]: "config" must be a path')));
        assert.ok(warnings.some((w) => w.startsWith('ckptlens.severity.shape-mismatch: expected one of')));
    });

    it('reads the ckptlens section through the vscodeapi wrapper', () => {
        const getConfiguration = stubApi('getConfiguration', () => fakeConfiguration({ enable: false }));
        assert.equal(getExtensionSettings().value.enable, false);
        assert.equal(getConfiguration.mock.calls[0].arguments[0], 'ckptlens');
    });
});

describe('serverSection', () => {
    it('drops the client-only settings and keeps only valid links', () => {
        const section = serverSection({
            enable: true,
            interpreter: ['/x/python'],
            severity: { 'missing-key': 'hint' },
            trace: { server: 'verbose' },
            debounceMs: 100,
            links: [{ class: 'a.py:A', checkpoint: 'a.pt' }, { class: 'broken' }],
        });
        assert.deepEqual(section, { enable: true, debounceMs: 100, links: [{ class: 'a.py:A', checkpoint: 'a.pt' }] });
    });

    it('turns anything else into an object with links', () => {
        assert.deepEqual(serverSection(null), { links: [] });
    });
});

describe('getInterpreterSetting', () => {
    function withInterpreter(
        values: { globalValue?: unknown; workspaceValue?: unknown; workspaceFolderValue?: unknown },
        trusted: boolean,
    ) {
        stubApi('getConfiguration', () => fakeConfiguration({}, { interpreter: values }));
        stubApi('isWorkspaceTrusted', () => trusted);
        stubApi('getWorkspaceFolders', () => [folder('/ws')]);
        stubApi('getWorkspaceFolder', () => undefined);
    }

    it('is empty when nothing is set', () => {
        withInterpreter({}, true);
        assert.deepEqual(getInterpreterSetting(), { command: [], origin: 'none', warnings: [] });
    });

    it('prefers the workspace folder value, then the workspace, then the user value', () => {
        withInterpreter({ globalValue: '/user/python', workspaceValue: ['/ws/.venv/bin/python', '-X', 'dev'] }, true);
        assert.deepEqual(getInterpreterSetting().command, ['/ws/.venv/bin/python', '-X', 'dev']);
        mock.restoreAll();
        withInterpreter({ globalValue: '/user/python', workspaceFolderValue: '/folder/python' }, true);
        assert.equal(getInterpreterSetting().origin, 'workspaceFolder');
    });

    it('ignores workspace values in an untrusted workspace and uses the user value', () => {
        withInterpreter({ globalValue: '/user/python', workspaceValue: '/ws/evil/python' }, false);
        const setting = getInterpreterSetting();
        assert.deepEqual(setting.command, ['/user/python']);
        assert.equal(setting.origin, 'user');
        assert.match(setting.warnings[0], /workspace value is ignored because the workspace is not trusted/);
    });

    it('has no interpreter in an untrusted workspace that only sets a workspace value', () => {
        withInterpreter({ workspaceValue: '/ws/evil/python' }, false);
        assert.deepEqual(getInterpreterSetting().command, []);
    });

    it('expands variables and warns about values of the wrong type', () => {
        withInterpreter(
            { workspaceValue: 42, globalValue: ['${userHome}/py/bin/python', '${workspaceFolder}/x'] },
            true,
        );
        const setting = getInterpreterSetting();
        assert.deepEqual(setting.command, [`${os.homedir()}/py/bin/python`, '/ws/x']);
        assert.match(setting.warnings[0], /expected a path or a list of strings, got 42/);
    });
});

describe('resolveVariables', () => {
    it('expands ${env:NAME}, ${userHome} and a leading ~', () => {
        assert.equal(
            resolveVariables('${env:PYHOME}/bin/python', undefined, { PYHOME: '/opt/py' }),
            '/opt/py/bin/python',
        );
        assert.equal(resolveVariables('~/venv/bin/python', undefined), `${os.homedir()}/venv/bin/python`);
        assert.equal(resolveVariables('${workspaceFolder}/py', folder('/ws')), '/ws/py');
    });
});

describe('isRestartSetting', () => {
    const change = (...keys: string[]) => ({
        affectsConfiguration: (section: string) => keys.some((k) => k === section || k.startsWith(`${section}.`)),
    });
    it('restarts for the interpreter, enable and severity, not for links', () => {
        assert.equal(isRestartSetting(change('ckptlens.interpreter')), true);
        assert.equal(isRestartSetting(change('ckptlens.enable')), true);
        assert.equal(isRestartSetting(change('ckptlens.severity')), true);
        assert.equal(isRestartSetting(change('ckptlens.links')), false);
        assert.equal(isRestartSetting(change('python.defaultInterpreterPath')), false);
    });
});
