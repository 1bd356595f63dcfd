import './setup';
import * as assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import type { Uri as VsUri } from 'vscode';
import { inspectCheckpoint } from '../src/common/commands/inspectCheckpoint';
import {
    InspectContentProvider,
    formatShape,
    inspectUri,
    renderInspect,
    renderSafety,
    statePathText,
} from '../src/common/inspectView';
import type { Launch } from '../src/common/launch';
import * as runner from '../src/common/runner';
import { stubApi } from './helpers';
import { Uri } from './vscode';

afterEach(() => mock.restoreAll());

const REPORT = {
    format: 'torch-zip',
    state_dict_path: ['model_state_dict'],
    tensors: {
        'module.layer1.weight': { shape: [20, 10], dtype: 'float32', device: 'cpu' },
        'module.layer1.bias': { shape: [20], dtype: 'float32', device: 'cpu' },
        'module.bn.num_batches_tracked': { shape: [], dtype: 'int64', device: 'cuda:0' },
    },
    hyper_parameters: { lr: 0.001, hidden: 20, layers: [2, 2] },
    entries: ['epoch', 'model_state_dict', 'best_acc'],
    path: '/ws/ckpts/mlp.pt',
    size: 3713,
};

describe('renderInspect', () => {
    it('shows the format, where the state_dict sits, hyper-parameters and an aligned key table', () => {
        const text = renderInspect(REPORT, '/ws/ckpts/mlp.pt');
        const lines = text.split('\n');
        assert.ok(lines.includes('Checkpoint:  /ws/ckpts/mlp.pt'), text);
        assert.ok(lines.includes('Format:      torch-zip  (3.6 KB)'), text);
        assert.ok(lines.includes('state_dict:  checkpoint["model_state_dict"]'), text);
        assert.ok(lines.includes('Tensors:     3  (221 values)'), text);
        assert.ok(lines.includes('Entries:     epoch, model_state_dict, best_acc'), text);
        assert.ok(lines.includes('  lr:      0.001'), text);
        assert.ok(lines.includes('  layers:  [2,2]'), text);
        const header = lines.findIndex((l) => l.startsWith('key'));
        assert.deepEqual(lines.slice(header, header + 5), [
            'key                            shape     dtype    device',
            '-'.repeat('module.bn.num_batches_tracked  []        int64    cuda:0'.length),
            'module.layer1.weight           [20, 10]  float32  cpu',
            'module.layer1.bias             [20]      float32  cpu',
            'module.bn.num_batches_tracked  []        int64    cuda:0',
        ]);
    });

    it('copes with a bare state_dict, unknown shapes and odd input', () => {
        assert.equal(statePathText([]), 'the file itself is the state_dict');
        assert.equal(statePathText(['state_dict', 'model']), 'checkpoint["state_dict"]["model"]');
        assert.equal(formatShape([3, null]), '[3, ?]');
        assert.equal(formatShape(undefined), '?');
        assert.match(renderInspect({ format: 'safetensors', tensors: {} }, '/a.safetensors'), /No tensors found/);
        assert.match(renderInspect('nonsense', '/a.pt'), /unexpected output/);
    });
});

describe('renderSafety', () => {
    it('says a safe checkpoint is safe, under the header', () => {
        const text = renderInspect(
            { ...REPORT, safety: { verdict: 'safe', globals: [], reasons: [], imports: {} } },
            '/ws/ckpts/mlp.pt',
        );
        const lines = text.split('\n');
        const safety = lines.indexOf('Safety:  safe (torch.load(weights_only=True) loads it)');
        assert.ok(safety > lines.findIndex((l) => l.startsWith('Entries:')), text);
        assert.ok(safety < lines.findIndex((l) => l.startsWith('key')), text);
    });

    it('lists the globals outside the allow-list with what importing each is known to do', () => {
        const lines = renderSafety({
            verdict: 'needs-trust',
            globals: ['lightning.fabric.utilities.data.AttributeDict', 'argparse.Namespace', 'uuid.UUID', 'odd\nname'],
            reasons: ["data.pkl uses pickle opcode NEWOBJ_EX, which torch's weights_only unpickler lacks"],
            imports: {
                'lightning.fabric.utilities.data.AttributeDict': 'runs-code',
                'argparse.Namespace': 'none',
                'uuid.UUID': 'unknown',
                'odd\nname': 'unknown',
            },
        });
        assert.deepEqual(lines, [
            'Safety:  needs-trust (torch.load(weights_only=True) refuses it; weights_only=False imports and runs what it names: only for a file you trust)',
            '  Globals outside the allow-list:',
            '    lightning.fabric.utilities.data.AttributeDict  import runs code',
            '    argparse.Namespace                             import runs no code',
            '    uuid.UUID                                      unknown whether its import runs code',
            '    odd\\x0aname                                    unknown whether its import runs code',
            "  - data.pkl uses pickle opcode NEWOBJ_EX, which torch's weights_only unpickler lacks",
            '',
        ]);
    });

    it('shows nothing for a report without a verdict (an older ckptlens)', () => {
        assert.deepEqual(renderSafety(undefined), []);
        assert.deepEqual(renderSafety({ globals: [] }), []);
    });
});

describe('ckptlens.inspectCheckpoint', () => {
    const launch: Launch = {
        command: '/venv/bin/python',
        pythonArgs: [],
        env: { PYTHONPATH: '/ext/bundled/libs' },
        cwd: '/ext',
        mode: 'bundled',
        interpreter: { command: ['/venv/bin/python'], source: 'setting', warnings: [] },
    };

    it('runs `ckptlens inspect <path> --format json` with the bundle and opens the rendered view', async () => {
        const run = mock.method(runner, 'runProcess', () =>
            Promise.resolve({ code: 0, stdout: JSON.stringify(REPORT), stderr: '' }),
        );
        stubApi('withProgress', (_t: string, task: () => Promise<unknown>) => task());
        const opened: VsUri[] = [];
        stubApi('openTextDocument', (uri: VsUri) => {
            opened.push(uri);
            return Promise.resolve({ uri });
        });
        stubApi('showTextDocument', () => Promise.resolve(undefined));
        const provider = new InspectContentProvider();

        const ok = await inspectCheckpoint(
            { currentLaunch: () => Promise.resolve({ launch }) },
            provider,
            Uri.file('/ws/ckpts/mlp.pt'),
        );

        assert.equal(ok, true);
        const [command, args, options] = run.mock.calls[0].arguments as [string, string[], runner.RunOptions];
        assert.equal(command, '/venv/bin/python');
        assert.deepEqual(args, ['-m', 'ckptlens', 'inspect', '/ws/ckpts/mlp.pt', '--format', 'json']);
        assert.equal(options.env?.PYTHONPATH, '/ext/bundled/libs');
        assert.equal(opened[0].scheme, 'ckptlens-inspect');
        assert.equal(opened[0].toString(), inspectUri('/ws/ckpts/mlp.pt').toString());
        assert.match(provider.provideTextDocumentContent(opened[0]), /module\.layer1\.weight\s+\[20, 10\]\s+float32/);
    });

    it('shows the reason when the checkpoint cannot be read', async () => {
        mock.method(runner, 'runProcess', () =>
            Promise.resolve({ code: 2, stdout: '', stderr: 'ckptlens: refused: the pickle calls os.system\n' }),
        );
        stubApi('withProgress', (_t: string, task: () => Promise<unknown>) => task());
        const error = stubApi('showErrorMessage', () => Promise.resolve(undefined));
        const ok = await inspectCheckpoint(
            { currentLaunch: () => Promise.resolve({ launch }) },
            new InspectContentProvider(),
            Uri.file('/ws/evil.pt'),
        );
        assert.equal(ok, false);
        assert.match(String(error.mock.calls[0].arguments[0]), /refused: the pickle calls os\.system/);
    });
});
