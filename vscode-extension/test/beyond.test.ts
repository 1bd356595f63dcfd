import './setup';
import * as assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type * as vscode from 'vscode';
import type { RankedCheckpoint } from '../src/common/commands/findCheckpoints';
import { findCheckpoints, fitLabel, parseFind } from '../src/common/commands/findCheckpoints';
import { linkCheckpoint } from '../src/common/commands/linkCheckpoint';
import { pickCheckpoint } from '../src/common/commands/pickers';
import {
    defaultOutput,
    parseWritten,
    writeArguments,
    writeFixedCheckpoint,
    writtenMessage,
} from '../src/common/commands/writeFixedCheckpoint';
import type { Launch } from '../src/common/launch';
import * as runner from '../src/common/runner';
import { byLabel, fakeDocument, fakeEditor, folder, scriptedQuickPick, stubApi } from './helpers';
import type { EditOperation, WorkspaceEdit } from './vscode';
import { Position, Uri } from './vscode';

afterEach(() => mock.restoreAll());

const launch: Launch = {
    command: '/venv/bin/python',
    pythonArgs: [],
    env: { PYTHONPATH: '/ext/bundled/libs' },
    cwd: '/ext',
    mode: 'bundled',
    interpreter: { command: ['/venv/bin/python'], source: 'setting', warnings: [] },
};
const launches = { currentLaunch: () => Promise.resolve({ launch }) };

const FIND = {
    candidates: [
        {
            checkpoint: '/ws/lightning_logs/version_1/checkpoints/last.ckpt',
            fit: 'exact',
            matched: 6,
            total: 6,
            findings: [],
        },
        { checkpoint: '/ws/ckpts/dp.pt', fit: 'mapped', matched: 6, total: 6, findings: [] },
        { checkpoint: '/ws/ckpts/half.pt', fit: 'partial', matched: 4, total: 6, findings: [] },
        { checkpoint: '/ws/ckpts/other.pt', fit: 'unrelated', matched: 0, total: 6, findings: [] },
    ],
    unreadable: [],
};
const RANKED = parseFind(JSON.stringify(FIND));

const MODEL = ['import torch.nn as nn', '', 'class Net(nn.Module):', '    pass', ''].join('\n');

describe('ckptlens find in the pickers', () => {
    it('parses `find --format json`, best first, and labels each fit', () => {
        assert.deepEqual(
            RANKED.map((c) => [c.fit, fitLabel(c)]),
            [
                ['exact', 'exact · 6/6'],
                ['mapped', 'mapped · 6/6'],
                ['partial', 'partial · 67% · 4/6'],
                ['unrelated', 'unrelated · 0/6'],
            ],
        );
        assert.deepEqual(parseFind('not json'), []);
        assert.deepEqual(parseFind('{"candidates": [{"checkpoint": 3}]}'), []);
    });

    it('runs `ckptlens find SOURCE --class NAME FOLDERS --format json` with the bundle', async () => {
        const run = mock.method(runner, 'runProcess', () =>
            Promise.resolve({ code: 0, stdout: JSON.stringify(FIND), stderr: '' }),
        );
        const ranked = await findCheckpoints(launches, '/ws/models/net.py', 'Net', ['/ws']);
        assert.deepEqual(ranked, RANKED);
        const [command, args] = run.mock.calls[0].arguments as [string, string[]];
        assert.equal(command, '/venv/bin/python');
        assert.deepEqual(args, [
            '-m',
            'ckptlens',
            'find',
            '/ws/models/net.py',
            '--class',
            'Net',
            '/ws',
            '--format',
            'json',
        ]);
        mock.method(runner, 'runProcess', () => Promise.resolve({ code: 2, stdout: '', stderr: 'ckptlens: error: x' }));
        assert.deepEqual(await findCheckpoints(launches, '/ws/models/net.py', 'Net', ['/ws']), []);
    });

    it('lists the ranked checkpoints first, in that order, with their fit; the others after', async () => {
        stubApi('getWorkspaceFolder', () => folder('/ws'));
        stubApi('findFiles', () => Promise.resolve([Uri.file('/ws/ckpts/other.pt'), Uri.file('/ws/ckpts/zzz.pt')]));
        const quickPick = stubApi('showQuickPick', scriptedQuickPick(byLabel('last.ckpt')));
        const picked = await pickCheckpoint('title', undefined, RANKED, 'Net');
        assert.equal(picked?.fsPath, '/ws/lightning_logs/version_1/checkpoints/last.ckpt');
        const items = quickPick.mock.calls[0].arguments[0] as vscode.QuickPickItem[];
        assert.deepEqual(
            items.slice(2).map((i) => [i.label, i.description]),
            [
                ['Ranked by fit for Net', undefined],
                ['$(pass-filled) last.ckpt', 'exact · 6/6 · lightning_logs/version_1/checkpoints'],
                ['$(pass) dp.pt', 'mapped · 6/6 · ckpts'],
                ['$(warning) half.pt', 'partial · 67% · 4/6 · ckpts'],
                ['$(circle-slash) other.pt', 'unrelated · 0/6 · ckpts'],
                ['In this workspace', undefined],
                ['$(database) zzz.pt', 'ckpts'],
            ],
        );
    });

    it('Link Checkpoint to Class… ranks the checkpoints for the chosen class', async () => {
        const document = fakeDocument(MODEL, '/ws/models/net.py');
        stubApi('getActiveTextEditor', () => fakeEditor(document, 2));
        stubApi('getWorkspaceFolder', () => folder('/ws'));
        stubApi('findFiles', () => Promise.resolve([]));
        stubApi('showQuickPick', scriptedQuickPick(byLabel('dp.pt'), byLabel('Directive comment')));
        const edits: EditOperation[][] = [];
        stubApi('applyEdit', (edit: WorkspaceEdit) => {
            edits.push(edit.operations);
            return Promise.resolve(true);
        });
        const asked: [string, string][] = [];
        const rank = (source: vscode.Uri, name: string): Promise<RankedCheckpoint[]> => {
            asked.push([source.fsPath, name]);
            return Promise.resolve(RANKED);
        };
        assert.equal(await linkCheckpoint(rank), true);
        assert.deepEqual(asked, [['/ws/models/net.py', 'Net']]);
        assert.deepEqual(edits[0], [
            {
                kind: 'insert',
                uri: document.uri,
                position: new Position(2, 0),
                text: '# ckptlens: checkpoint=../ckpts/dp.pt\n',
            },
        ]);
    });
});

describe('ckptlens.writeFixedCheckpoint', () => {
    const WRITTEN = {
        mapping: {},
        dropped: [],
        missing: [],
        written: {
            files: ['/ws/ckpts/dp.fixed.safetensors'],
            index: null,
            tensors: 6,
            bytes: 3 * 2 ** 20,
            renamed: 6,
            dropped: [],
        },
    };
    let document: ReturnType<typeof fakeDocument>;
    beforeEach(() => {
        document = fakeDocument(MODEL, '/ws/models/net.py');
        stubApi('getActiveTextEditor', () => fakeEditor(document, 2));
        stubApi('getWorkspaceFolder', () => folder('/ws'));
        stubApi('findFiles', () => Promise.resolve([]));
        stubApi('withProgress', (_t: string, task: () => Promise<unknown>) => task());
    });

    it('runs `map --write` on the chosen checkpoint and output, and reports what it wrote', async () => {
        stubApi('showQuickPick', scriptedQuickPick(byLabel('dp.pt')));
        const save = stubApi('showSaveDialog', () => Promise.resolve(Uri.file('/ws/out/net.safetensors')));
        const run = mock.method(runner, 'runProcess', () =>
            Promise.resolve({ code: 1, stdout: JSON.stringify(WRITTEN), stderr: '' }),
        );
        const info = stubApi('showInformationMessage', () => Promise.resolve(undefined));
        assert.equal(await writeFixedCheckpoint(launches, () => Promise.resolve(RANKED)), true);
        const options = save.mock.calls[0].arguments[0] as vscode.SaveDialogOptions;
        assert.equal(options.defaultUri?.fsPath, '/ws/ckpts/dp.fixed.safetensors');
        const [, args] = run.mock.calls[0].arguments as [string, string[]];
        assert.deepEqual(args, [
            '-m', 'ckptlens', 'map', '/ws/models/net.py', '--class', 'Net', '--checkpoint', '/ws/ckpts/dp.pt',
            '--write', '/ws/out/net.safetensors', '--format', 'json',
        ]); // prettier-ignore
        assert.equal(
            info.mock.calls[0].arguments[0],
            'ckptlens: wrote dp.fixed.safetensors: 6 tensors, 3.0 MiB, 6 renamed, 0 dropped.',
        );
    });

    it('shows the one-line error when the source would be overwritten', async () => {
        stubApi('showQuickPick', scriptedQuickPick(byLabel('dp.pt')));
        stubApi('showSaveDialog', () => Promise.resolve(Uri.file('/ws/ckpts/dp.pt')));
        mock.method(runner, 'runProcess', () =>
            Promise.resolve({
                code: 2,
                stdout: '',
                stderr: 'ckptlens: error: refusing to overwrite the source checkpoint /ws/ckpts/dp.pt\n',
            }),
        );
        const error = stubApi('showErrorMessage', () => Promise.resolve(undefined));
        assert.equal(await writeFixedCheckpoint(launches, () => Promise.resolve(RANKED)), false);
        assert.match(String(error.mock.calls[0].arguments[0]), /refusing to overwrite the source checkpoint/);
    });

    it('builds its arguments and default output, and reads the report', () => {
        assert.deepEqual(writeArguments('/a.py', 'Net', '/c.pt', '/o.safetensors'), [
            'map', '/a.py', '--class', 'Net', '--checkpoint', '/c.pt', '--write', '/o.safetensors', '--format', 'json',
        ]); // prettier-ignore
        assert.equal(defaultOutput('/ws/run/epoch=3.ckpt'), '/ws/run/epoch=3.fixed.safetensors');
        assert.equal(defaultOutput('/ws/hf_model'), '/ws/hf_model.fixed.safetensors');
        assert.equal(parseWritten('{"mapping": {}}'), undefined);
        const sharded = {
            ...WRITTEN.written,
            files: ['/o/m-00001-of-00002.safetensors', '/o/m-00002-of-00002.safetensors'],
            index: '/o/m.safetensors.index.json',
        };
        assert.equal(
            writtenMessage(sharded),
            'ckptlens: wrote m.safetensors.index.json (2 shards): 6 tensors, 3.0 MiB, 6 renamed, 0 dropped.',
        );
    });
});
