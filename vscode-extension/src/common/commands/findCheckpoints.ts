// The checkpoints of the workspace ranked by how they fit a class: `ckptlens find SOURCE.py
// --class NAME FOLDER --format json`, run with the server's interpreter and bundled libraries
// (as Inspect Checkpoint runs `ckptlens inspect`). The pickers list them best first.

import type { LaunchPlan } from '../launch';
import { ckptlensCommand } from '../launch';
import { traceError, traceLog } from '../logging';
import { runProcess } from '../runner';

const FIND_TIMEOUT_MS = 120_000;

export type Fit = 'exact' | 'mapped' | 'partial' | 'unrelated';

export interface RankedCheckpoint {
    checkpoint: string;
    fit: Fit;
    matched: number;
    total: number;
}

export interface LaunchSource {
    currentLaunch(): Promise<LaunchPlan>;
}

/** Parses `ckptlens find --format json`; anything malformed yields an empty list. */
export function parseFind(stdout: string): RankedCheckpoint[] {
    let data: unknown;
    try {
        data = JSON.parse(stdout);
    } catch {
        return [];
    }
    const candidates = (data as { candidates?: unknown })?.candidates;
    if (!Array.isArray(candidates)) {
        return [];
    }
    const fits: readonly string[] = ['exact', 'mapped', 'partial', 'unrelated'];
    const out: RankedCheckpoint[] = [];
    for (const c of candidates as Record<string, unknown>[]) {
        if (
            typeof c?.checkpoint === 'string' &&
            typeof c.fit === 'string' &&
            fits.includes(c.fit) &&
            typeof c.matched === 'number' &&
            typeof c.total === 'number'
        ) {
            out.push({ checkpoint: c.checkpoint, fit: c.fit as Fit, matched: c.matched, total: c.total });
        }
    }
    return out;
}

/** `exact · 56/56`, `partial · 91% · 51/56`: what a picker shows next to a checkpoint. */
export function fitLabel(c: RankedCheckpoint): string {
    if (c.fit === 'partial' && c.total > 0) {
        return `partial · ${Math.round((100 * c.matched) / c.total)}% · ${c.matched}/${c.total}`;
    }
    return `${c.fit} · ${c.matched}/${c.total}`;
}

export async function findCheckpoints(
    launches: LaunchSource,
    source: string,
    className: string,
    folders: readonly string[],
): Promise<RankedCheckpoint[]> {
    if (folders.length === 0) {
        return [];
    }
    const plan = await launches.currentLaunch();
    if (!plan.launch) {
        return [];
    }
    const [command, args] = ckptlensCommand(plan.launch, [
        'find',
        source,
        '--class',
        className,
        ...folders,
        '--format',
        'json',
    ]);
    traceLog(`Running: ${command} ${args.join(' ')}`);
    const result = await runProcess(command, args, {
        env: plan.launch.env,
        cwd: plan.launch.cwd,
        timeoutMs: FIND_TIMEOUT_MS,
    });
    if (result.code !== 0 && result.code !== 1) {
        traceError(`ckptlens find failed: ${result.stderr.trim() || result.error || `exit code ${result.code}`}`);
        return [];
    }
    return parseFind(result.stdout);
}
