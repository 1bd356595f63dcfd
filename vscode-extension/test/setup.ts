// Imported first by every test: makes `require('vscode')` return the stand-in in ./vscode,
// also for vscode-languageclient. Names the stand-in lacks become inert classes, so libraries
// that only reference them at load time still load.

import Module from 'node:module';
import * as stub from './vscode';

const members: Record<string, unknown> = { ...stub };
const fallback = new Proxy(members, {
    get(target, prop: string) {
        if (prop in target) {
            return target[prop];
        }
        if (prop === '__esModule' || prop === 'then' || prop === 'default') {
            return undefined;
        }
        return class Inert {};
    },
});

type Loader = (request: string, parent: unknown, isMain: boolean) => unknown;
const moduleWithLoad = Module as unknown as { _load: Loader };
const originalLoad = moduleWithLoad._load;
moduleWithLoad._load = function (request: string, parent: unknown, isMain: boolean) {
    if (request === 'vscode') {
        return fallback;
    }
    return originalLoad.call(this, request, parent, isMain);
};
