/// <reference types="vite/client" />
// The contract fixtures in testdata/contract, which the Go library
// (pkg/mpijob) and the Python SDK load too.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PHASES } from './types.gen';
import type { JobForm } from './types';
import { CHECKED_FIELDS, checkForm } from './validate';
import phaseYAML from '../../../testdata/contract/phase.yaml?raw';
import validationYAML from '../../../testdata/contract/validation.yaml?raw';

const files: Record<string, string> = { 'phase.yaml': phaseYAML, 'validation.yaml': validationYAML };
const contract = (name: string) => parse(files[name]);

describe('phase contract', () => {
  it('lists the same phases in the same order', () => {
    expect([...PHASES]).toEqual(contract('phase.yaml').phases);
  });
});

interface ValidationCase {
  what: string;
  spec: Partial<JobForm>;
  invalid: string[];
}

describe('validation contract', () => {
  const c = contract('validation.yaml') as { defaults: Partial<JobForm>; cases: ValidationCase[] };
  it.each(c.cases.map((k) => [k.what, k] as const))('%s', (_what, k) => {
    const errs = checkForm({ ...c.defaults, ...k.spec });
    const checked = (f: string) => (CHECKED_FIELDS as readonly string[]).includes(f);
    expect(Object.keys(errs).sort()).toEqual(k.invalid.filter(checked).sort());
  });
});
