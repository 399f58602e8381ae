import { LIMITS } from './types.gen';
import type { JobForm } from './types';

// What the wizard checks before asking the server, with the rules of
// pkg/mpijob/jobspec; testdata/contract/validation.yaml proves they give
// the same verdicts (src/contract.test.ts). The server's dry run checks
// everything else.

// The fields checked here; the contract test compares only these.
export const CHECKED_FIELDS = ['name', 'image', 'workers', 'gpusPerWorker', 'slotsPerWorker'] as const;

const dns1035Label = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

export function checkName(name: string): string | undefined {
  if (!name) return 'Required: a lower-case name such as pi.';
  if (name.length > LIMITS.maxNameLength)
    return `At most ${LIMITS.maxNameLength} characters: worker pods add "-worker-<index>" to the name.`;
  if (!dns1035Label.test(name)) return 'Use lower-case letters, digits and "-", starting with a letter.';
  return undefined;
}

export function checkForm(f: Partial<JobForm>): Record<string, string> {
  const e: Record<string, string> = {};
  const name = checkName(f.name ?? '');
  if (name) e.name = name;
  if (!(f.image ?? '').trim()) e.image = 'Required: the image with your code and MPI.';
  const workers = f.workers ?? 0;
  if (workers < 1) e.workers = 'At least one worker.';
  else if (workers > LIMITS.maxWorkers) e.workers = `At most ${LIMITS.maxWorkers} workers per job.`;
  const gpus = f.gpusPerWorker ?? 0;
  if (gpus < 0) e.gpusPerWorker = 'Must not be negative.';
  const slots = f.slotsPerWorker ?? 0;
  if (slots < 0) e.slotsPerWorker = 'Must not be negative; leave 0 for one slot per GPU.';
  else if (slots > LIMITS.maxSlotsPerWorker || (slots === 0 && gpus > LIMITS.maxSlotsPerWorker))
    e.slotsPerWorker = `At most ${LIMITS.maxSlotsPerWorker} MPI processes per worker.`;
  return e;
}
