import * as path from 'path';

export const EXTENSION_ID = 'ckptlens.ckptlens';
export const SERVER_ID = 'ckptlens';
export const SERVER_NAME = 'ckptlens';
export const DIAGNOSTIC_SOURCE = 'ckptlens';
export const CONFIG_SECTION = 'ckptlens';
export const PYTHON_EXTENSION_ID = 'ms-python.python';
export const INSPECT_SCHEME = 'ckptlens-inspect';

export const COMMANDS = {
    generateKeyMapping: 'ckptlens.generateKeyMapping',
    linkCheckpoint: 'ckptlens.linkCheckpoint',
    inspectCheckpoint: 'ckptlens.inspectCheckpoint',
    writeFixedCheckpoint: 'ckptlens.writeFixedCheckpoint',
    restart: 'ckptlens.restart',
    showLog: 'ckptlens.showLog',
} as const;

/** Files the checkpoint pickers offer (a folder is offered too: sharded or from_pretrained layouts). */
export const CHECKPOINT_EXTENSIONS = ['pt', 'pth', 'bin', 'ckpt', 'safetensors'];

/** The modules the server needs; importing them is how an interpreter is checked. */
export const SERVER_MODULES = ['ckptlens', 'pygls', 'libcst'];

/** Paths inside the installed extension. */
export function bundledLibsPath(extensionRoot: string): string {
    return path.join(extensionRoot, 'bundled', 'libs');
}

/** One folder per CPython version (`cp310`, `cp311`, ...) holding libcst built for it. */
export function bundledNativePath(extensionRoot: string): string {
    return path.join(extensionRoot, 'bundled', 'native');
}

/** What the bundle was built for (written by scripts/bundle_server.py). */
export function bundledTargetPath(extensionRoot: string): string {
    return path.join(extensionRoot, 'bundled', 'target.json');
}

export function bundledWheelsPath(extensionRoot: string): string {
    return path.join(extensionRoot, 'bundled', 'wheels');
}
