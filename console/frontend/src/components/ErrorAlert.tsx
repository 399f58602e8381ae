import { Alert, List, ListItem } from '@patternfly/react-core';
import { ApiError } from '../api';

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.body.error;
  if (err instanceof Error) return err.message;
  return String(err);
}

export function ErrorAlert({ err, title }: { err: unknown; title?: string }) {
  const status = err instanceof ApiError ? err.status : undefined;
  const reason = err instanceof ApiError ? err.body.reason : undefined;
  const heading =
    title ??
    (status === 403
      ? 'You do not have access'
      : status === 404
        ? 'Not found'
        : status === 401
          ? 'Not signed in'
          : 'Request failed');
  const warnings = err instanceof ApiError ? (err.body.warnings ?? []) : [];
  return (
    <Alert variant="danger" isInline component="h2" title={reason ? `${heading} (${reason})` : heading}>
      <pre style={{ whiteSpace: 'pre-wrap', margin: 0 }}>{errorText(err)}</pre>
      {warnings.length > 0 && (
        <List>
          {warnings.map((w) => (
            <ListItem key={w}>{w}</ListItem>
          ))}
        </List>
      )}
    </Alert>
  );
}
