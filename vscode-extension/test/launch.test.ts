import './setup';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, it, mock } from 'node:test';
import { CHECK_SCRIPT, describeProblem, installTarget, pipInstallArgs, planLaunch } from '../src/common/launch';
import type { InterpreterChoice } from '../src/common/python';
import * as runner from '../src/common/runner';
import type { RunOptions, RunResult } from '../src/common/runner';
import { runProcess } from '../src/common/runner';

afterEach(() => mock.restoreAll());

const PYTHON: InterpreterChoice = { command: ['/venv/bin/python'], source: 'python-extension', warnings: [] };
const ROOT = '/ext';

function processes(...results: Partial<RunResult>[]) {
    let call = 0;
    return mock.method(runner, 'runProcess', (_command: string, _args: readonly string[], _options?: RunOptions) => {
        const result = results[call++];
        if (!result) {
            throw new Error('unexpected process');
        }
        return Promise.resolve({ code: 0, stdout: '', stderr: '', ...result });
    });
}

describe('planLaunch', () => {
    it('runs the bundled server when the interpreter imports the bundled libraries', async () => {
        const run = processes({ code: 0, stdout: '3.11.7 linux\n/ext/bundled/libs/ckptlens/__init__.py\n' });
        const plan = await planLaunch(PYTHON, ROOT);
        assert.equal(plan.launch?.mode, 'bundled');
        assert.equal(plan.launch?.pythonVersion, '3.11.7');
        assert.equal(plan.launch?.env.PYTHONPATH, path.join(ROOT, 'bundled', 'libs'));
        assert.equal(plan.launch?.env.PYTHONSAFEPATH, '1');
        assert.equal(plan.launch?.cwd, ROOT);
        const [command, args, options] = run.mock.calls[0].arguments;
        assert.equal(command, '/venv/bin/python');
        assert.deepEqual(args, ['-c', CHECK_SCRIPT]);
        assert.equal(options?.env?.PYTHONPATH, path.join(ROOT, 'bundled', 'libs'));
        assert.equal(options?.cwd, ROOT);
        assert.match(CHECK_SCRIPT, /import ckptlens, pygls, libcst/);
    });

    it('uses ckptlens installed in the environment when the bundle does not load there', async () => {
        const run = processes(
            { code: 1, stdout: '3.12.1 linux\n', stderr: 'ImportError: libcst/native...so: wrong ELF class\n' },
            { code: 0, stdout: '3.12.1 linux\n/venv/lib/python3.12/site-packages/ckptlens/__init__.py\n' },
        );
        const plan = await planLaunch(PYTHON, ROOT);
        assert.equal(plan.launch?.mode, 'environment');
        assert.equal(plan.launch?.env.PYTHONPATH, process.env.PYTHONPATH);
        assert.equal(run.mock.callCount(), 2);
    });

    it('reports the Python version and the import error when neither works', async () => {
        processes(
            { code: 1, stdout: '3.9.18 linux\n', stderr: 'Traceback...\nSyntaxError: invalid syntax\n' },
            { code: 1, stdout: '3.9.18 linux\n', stderr: "ModuleNotFoundError: No module named 'ckptlens'\n" },
        );
        const plan = await planLaunch(PYTHON, ROOT);
        assert.ok(plan.problem);
        assert.equal(plan.problem.notRunnable, false);
        const message = describeProblem(plan.problem);
        assert.match(message, /Python 3\.9\.18 on linux/);
        assert.match(message, /SyntaxError: invalid syntax/);
        assert.match(message, /Install ckptlens into it, or select another interpreter/);
    });

    it('says when the interpreter cannot be run at all', async () => {
        processes({ code: null, error: 'spawn python3 ENOENT' });
        const plan = await planLaunch({ command: ['python3'], source: 'default', warnings: [] }, ROOT);
        assert.equal(plan.problem?.notRunnable, true);
        assert.match(
            describeProblem(plan.problem),
            /cannot run the Python interpreter "python3" \(spawn python3 ENOENT\)/,
        );
    });

    it('keeps the arguments of a multi-part interpreter command', async () => {
        const run = processes({ code: 0, stdout: '3.11.4 linux\n' });
        const plan = await planLaunch(
            { command: ['conda', 'run', '-n', 'ml', 'python'], source: 'setting', warnings: [] },
            ROOT,
        );
        assert.deepEqual(run.mock.calls[0].arguments[1], ['run', '-n', 'ml', 'python', '-c', CHECK_SCRIPT]);
        assert.equal(plan.launch?.command, 'conda');
        assert.deepEqual(plan.launch?.pythonArgs, ['run', '-n', 'ml', 'python']);
    });
});

describe('installing into the environment', () => {
    it('pip-installs the server wheel shipped in the extension', () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ckptlens-ext-'));
        try {
            assert.equal(installTarget(root), 'ckptlens');
            fs.mkdirSync(path.join(root, 'bundled', 'wheels'), { recursive: true });
            const wheel = path.join(root, 'bundled', 'wheels', 'ckptlens-0.1.0-py3-none-any.whl');
            fs.writeFileSync(wheel, '');
            assert.deepEqual(pipInstallArgs(PYTHON, root), [
                '/venv/bin/python',
                ['-m', 'pip', 'install', '--upgrade', wheel],
            ]);
        } finally {
            fs.rmSync(root, { recursive: true, force: true });
        }
    });
});

describe('runProcess', () => {
    it('collects the output and the exit code', async () => {
        const chunks: string[] = [];
        const result = await runProcess(
            process.execPath,
            ['-e', 'console.log("out"); console.error("err"); process.exit(3)'],
            {
                onOutput: (c) => chunks.push(c),
            },
        );
        assert.deepEqual([result.code, result.stdout, result.stderr], [3, 'out\n', 'err\n']);
        assert.ok(chunks.join('').includes('out'));
    });

    it('reports a missing executable and a timeout instead of throwing', async () => {
        const missing = await runProcess('/no/such/python', ['-V']);
        assert.equal(missing.code, null);
        assert.match(missing.error ?? '', /ENOENT/);
        const slow = await runProcess(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { timeoutMs: 100 });
        assert.equal(slow.code, null);
        assert.match(slow.error ?? '', /timed out/);
    });
});
