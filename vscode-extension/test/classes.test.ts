import './setup';
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
    appendToToml,
    classAtLine,
    directiveEdit,
    directiveValue,
    findClasses,
    pyprojectLinkTable,
    relativePath,
    splitLines,
} from '../src/common/classes';

const SOURCE = [
    'import torch.nn as nn', // 0
    '', // 1
    '', // 2
    '@register', // 3
    '@other(x=1)', // 4
    'class Encoder(nn.Module):', // 5
    '    def __init__(self):', // 6
    '        super().__init__()', // 7
    '', // 8
    '        self.fc = nn.Linear(2, 3)', // 9
    '', // 10
    '    class Inner:', // 11
    '        pass', // 12
    '', // 13
    '# a note', // 14
    '# ckptlens: checkpoint=old.pt init:hidden=64', // 15
    'class Net(nn.Module):', // 16
    '    pass', // 17
    'x = Net()', // 18
    'class_name = "not a class"', // 19
];

describe('findClasses', () => {
    it('finds classes with their decorators and indentation', () => {
        const classes = findClasses(SOURCE);
        assert.deepEqual(
            classes.map((c) => [c.name, c.line, c.firstLine, c.indent]),
            [
                ['Encoder', 5, 3, ''],
                ['Inner', 11, 11, '    '],
                ['Net', 16, 16, ''],
            ],
        );
    });

    it('splits CRLF text', () => {
        assert.deepEqual(splitLines('a\r\nb\nc'), ['a', 'b', 'c']);
    });
});

describe('classAtLine', () => {
    const at = (line: number) => classAtLine(SOURCE, line)?.name;
    it('is the innermost class around the cursor', () => {
        assert.equal(at(9), 'Encoder');
        assert.equal(at(10), 'Encoder');
        assert.equal(at(12), 'Inner');
        assert.equal(at(17), 'Net');
    });
    it('includes the decorators and the directive comments above a class', () => {
        assert.equal(at(3), 'Encoder');
        assert.equal(at(15), 'Net');
        assert.equal(at(14), 'Net');
    });
    it('is nothing outside classes', () => {
        assert.equal(at(0), undefined);
        assert.equal(at(18), undefined);
    });
});

describe('directiveEdit', () => {
    const classes = findClasses(SOURCE);
    it('inserts the directive above the decorators, at the class indentation', () => {
        assert.deepEqual(directiveEdit(SOURCE, classes[0], 'ckpts/enc.pt'), {
            line: 3,
            replace: false,
            text: '# ckptlens: checkpoint=ckpts/enc.pt',
        });
        assert.deepEqual(directiveEdit(SOURCE, classes[1], '../inner.pt'), {
            line: 11,
            replace: false,
            text: '    # ckptlens: checkpoint=../inner.pt',
        });
    });

    it('replaces the checkpoint of an existing directive and keeps its other fields', () => {
        assert.deepEqual(directiveEdit(SOURCE, classes[2], 'new dir/net.pt'), {
            line: 15,
            replace: true,
            text: '# ckptlens: checkpoint="new dir/net.pt" init:hidden=64',
        });
    });

    it('adds a checkpoint to a directive without one', () => {
        const lines = ['# ckptlens: init:hidden=3', 'class A:', '    pass'];
        assert.deepEqual(directiveEdit(lines, findClasses(lines)[0], 'a.pt'), {
            line: 0,
            replace: true,
            text: '# ckptlens: init:hidden=3 checkpoint=a.pt',
        });
    });

    it('quotes values the directive would split', () => {
        assert.equal(directiveValue('plain/path.pt'), 'plain/path.pt');
        assert.equal(directiveValue('my ckpts/a.pt'), '"my ckpts/a.pt"');
        assert.equal(directiveValue('say "hi".pt'), `'say "hi".pt'`);
    });
});

describe('paths and pyproject tables', () => {
    it('makes relative paths with forward slashes', () => {
        assert.equal(relativePath('/ws/models', '/ws/ckpts/net.pt'), '../ckpts/net.pt');
        assert.equal(relativePath('/ws/models', '/ws/models/net.pt'), 'net.pt');
        assert.equal(relativePath('/ws', '/ws'), '.');
    });

    it('writes a [[tool.ckptlens.link]] table with TOML strings', () => {
        assert.equal(
            pyprojectLinkTable('models/net.py:Net', 'ckpts/a "b".pt'),
            '[[tool.ckptlens.link]]\nclass = "models/net.py:Net"\ncheckpoint = "ckpts/a \\"b\\".pt"\n',
        );
        assert.equal(
            pyprojectLinkTable('m.py:N', 'C:\\x.pt'),
            '[[tool.ckptlens.link]]\nclass = "m.py:N"\ncheckpoint = "C:\\\\x.pt"\n',
        );
    });

    it('separates the appended table by one blank line', () => {
        const table = '[[tool.ckptlens.link]]\n';
        assert.equal(appendToToml('', table), table);
        assert.equal(appendToToml('[project]\nname = "x"\n', table), `\n${table}`);
        assert.equal(appendToToml('[project]\nname = "x"', table), `\n\n${table}`);
        assert.equal(appendToToml('[project]\n\n', table), table);
    });
});
