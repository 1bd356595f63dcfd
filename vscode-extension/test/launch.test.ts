import './setup';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, it, mock } from 'node:test';
import {
    bundledEnv,
    CHECK_SCRIPT,
    checkImports,
    describeBundle,
    describeProblem,
    installTarget,
    pipInstallArgs,
    planLaunch,
} from '../src/common/launch';
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
    it("runs the bundled server with the libcst built for the interpreter's CPython", async () => {
        const run = processes({ code: 0, stdout: '3.12.1 linux\ncp312\n/ext/bundled/libs/ckptlens/__init__.py\n' });
        const plan = await planLaunch(PYTHON, ROOT);
        assert.equal(plan.launch?.mode, 'bundled');
        assert.equal(plan.launch?.pythonVersion, '3.12.1');
        assert.equal(plan.launch?.bundle, 'cp312');
        assert.equal(
            plan.launch?.env.PYTHONPATH,
            [path.join(ROOT, 'bundled', 'native', 'cp312'), path.join(ROOT, 'bundled', 'libs')].join(path.delimiter),
        );
        assert.equal(plan.launch?.env.PYTHONSAFEPATH, '1');
        assert.equal(plan.launch?.cwd, ROOT);
        const [command, args, options] = run.mock.calls[0].arguments;
        assert.equal(command, '/venv/bin/python');
        // The check chooses the folder under bundled/native and imports from it and bundled/libs.
        assert.deepEqual(args, ['-c', CHECK_SCRIPT, path.join(ROOT, 'bundled', 'native')]);
        assert.equal(options?.env?.PYTHONPATH, path.join(ROOT, 'bundled', 'libs'));
        assert.equal(options?.cwd, ROOT);
        assert.match(CHECK_SCRIPT, /import ckptlens, pygls, libcst, libcst\.native/);
    });

    it('uses ckptlens installed in the environment when the bundle does not load there', async () => {
        const run = processes(
            { code: 1, stdout: '3.14.0 linux\n-\n', stderr: "ModuleNotFoundError: No module named 'libcst'\n" },
            { code: 0, stdout: '3.14.0 linux\n-\n/venv/lib/python3.14/site-packages/ckptlens/__init__.py\n' },
        );
        const plan = await planLaunch(PYTHON, ROOT);
        assert.equal(plan.launch?.mode, 'environment');
        assert.equal(plan.launch?.bundle, undefined);
        assert.equal(plan.launch?.env.PYTHONPATH, process.env.PYTHONPATH);
        assert.equal(run.mock.callCount(), 2);
        // The second check is the environment's own: no bundle folder is offered to it.
        assert.deepEqual(run.mock.calls[1].arguments[1], ['-c', CHECK_SCRIPT]);
    });

    it('names the interpreters the bundle serves, from bundled/target.json', async () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ckptlens-ext-'));
        try {
            fs.mkdirSync(path.join(root, 'bundled'));
            fs.writeFileSync(
                path.join(root, 'bundled', 'target.json'),
                JSON.stringify({ target: 'darwin-arm64', pythons: { '3.13': {}, '3.10': {}, '3.12': {}, '3.11': {} } }),
            );
            assert.equal(describeBundle(root), 'CPython 3.10, 3.11, 3.12 or 3.13 on darwin-arm64');
            processes(
                { code: 1, stdout: '3.9.18 darwin\n-\n', stderr: "ModuleNotFoundError: No module named 'libcst'\n" },
                { code: 1, stdout: '3.9.18 darwin\n-\n', stderr: "ModuleNotFoundError: No module named 'ckptlens'\n" },
            );
            const plan = await planLaunch(PYTHON, root);
            assert.ok(plan.problem);
            assert.match(
                describeProblem(plan.problem),
                /select another interpreter \(CPython 3\.10, 3\.11, 3\.12 or 3\.13 on darwin-arm64 runs the bundled server as is\)\.$/,
            );
        } finally {
            fs.rmSync(root, { recursive: true, force: true });
        }
        assert.equal(describeBundle(root), undefined);
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
        const run = processes({ code: 0, stdout: '3.11.4 linux\ncp311\n' });
        const plan = await planLaunch(
            { command: ['conda', 'run', '-n', 'ml', 'python'], source: 'setting', warnings: [] },
            ROOT,
        );
        assert.deepEqual(run.mock.calls[0].arguments[1], [
            'run',
            '-n',
            'ml',
            'python',
            '-c',
            CHECK_SCRIPT,
            path.join(ROOT, 'bundled', 'native'),
        ]);
        assert.equal(plan.launch?.command, 'conda');
        assert.deepEqual(plan.launch?.pythonArgs, ['run', '-n', 'ml', 'python']);
    });
});

describe('the check script in a real Python', () => {
    it('chooses bundled/native/cp3XX for the running CPython and imports libcst from it', async () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ckptlens-ext-'));
        const write = (file: string, text = '') => {
            fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
            fs.writeFileSync(path.join(root, file), text);
        };
        try {
            for (const pkg of ['ckptlens', 'pygls']) {
                write(`bundled/libs/${pkg}/__init__.py`);
            }
            // A libcst for every CPython the test could run under; each says which one it is.
            for (let minor = 8; minor <= 20; minor++) {
                write(`bundled/native/cp3${minor}/libcst/__init__.py`);
                write(`bundled/native/cp3${minor}/libcst/native.py`, `WHICH = "cp3${minor}"\n`);
            }
            const python = process.platform === 'win32' ? 'python' : 'python3';
            const interpreter: InterpreterChoice = { command: [python], source: 'default', warnings: [] };
            const plan = await planLaunch(interpreter, root);
            assert.equal(plan.launch?.mode, 'bundled', JSON.stringify(plan.problem));
            const [major, minor] = (plan.launch?.pythonVersion ?? '').split('.');
            assert.equal(major, '3');
            assert.equal(plan.launch?.bundle, `cp3${minor}`);
            const which = await runProcess(
                python,
                ['-c', 'import ckptlens, libcst.native as n; print(n.WHICH, ckptlens.__file__)'],
                {
                    env: plan.launch?.env,
                },
            );
            assert.equal(which.code, 0, which.stderr);
            const [tag, file] = which.stdout.trim().split(' ');
            assert.equal(tag, `cp3${minor}`);
            assert.equal(path.dirname(file), path.join(root, 'bundled', 'libs', 'ckptlens'));

            // Without the interpreter's folder the bundle is not for it, even where the interpreter's
            // own environment has a libcst: the environment's ckptlens is tried next, or the user asked.
            fs.rmSync(path.join(root, 'bundled', 'native', `cp3${minor}`), { recursive: true });
            const check = await checkImports(interpreter, bundledEnv(root), root, path.join(root, 'bundled', 'native'));
            assert.equal(check.ok, false);
            assert.equal(check.bundle, undefined);
            assert.equal(check.reason, 'no libcst in the bundle for this interpreter');
        } finally {
            fs.rmSync(root, { recursive: true, force: true });
        }
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
