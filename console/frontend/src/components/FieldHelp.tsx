import { FormGroupLabelHelp, Popover } from '@patternfly/react-core';

// FieldHelp is the (?) next to a form label: what the field is, an
// example, and where to read more.
export function FieldHelp({ field, children }: { field: string; children: React.ReactNode }) {
  return (
    <Popover headerContent={field} bodyContent={<div>{children}</div>}>
      <FormGroupLabelHelp aria-label={`More info for ${field}`} />
    </Popover>
  );
}
