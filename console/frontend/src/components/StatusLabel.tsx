import { Label } from '@patternfly/react-core';

import type { Phase } from '../types';

// Every phase has an entry, so a phase added to pkg/mpijob fails the
// type check here until it is given a colour.
const statusOf: Record<Phase, 'success' | 'danger' | 'warning' | 'info' | undefined> = {
  Succeeded: 'success',
  Failed: 'danger',
  Restarting: 'warning',
  Running: 'info',
  Queued: undefined,
  Suspended: undefined,
  Created: undefined,
  Pending: undefined,
};

export function StatusLabel({ status }: { status: Phase }) {
  const s = statusOf[status];
  return s ? (
    <Label status={s} isCompact>
      {status}
    </Label>
  ) : (
    <Label color="grey" isCompact>
      {status}
    </Label>
  );
}
