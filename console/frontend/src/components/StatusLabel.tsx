import { Label } from '@patternfly/react-core';

const statusOf: Record<string, 'success' | 'danger' | 'warning' | 'info' | undefined> = {
  Succeeded: 'success',
  Failed: 'danger',
  Restarting: 'warning',
  Running: 'info',
};

export function StatusLabel({ status }: { status: string }) {
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
