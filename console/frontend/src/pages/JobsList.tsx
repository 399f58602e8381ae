import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  Alert,
  Button,
  EmptyState,
  EmptyStateBody,
  FormSelect,
  FormSelectOption,
  PageSection,
  Pagination,
  SearchInput,
  Spinner,
  Switch,
  Title,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import { api, FIRST_PAGE, type JobQuery, takeArrivedTrainingJobs, watchTrainingJobs } from '../api';
import { ErrorAlert } from '../components/ErrorAlert';
import { StatusLabel } from '../components/StatusLabel';
import { age } from '../components/time';
import { jobURL, navigate } from '../router';
import type { JobSummary, TrainingJobList } from '../types';
import { PHASES } from '../types.gen';

const periods: Record<string, number> = { any: 0, '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3 };

// The sortable columns and the console's sort key of each.
const sortable: Record<string, string> = { Name: 'name', Status: 'status', GPUs: 'gpus', Age: 'created' };

export interface JobsListProps {
  // namespace is the namespace shown, or null for all namespaces.
  namespace: string | null;
  // pollMs is how often the list refreshes while live updates are on and
  // the console cannot stream changes (or other kinds than MPIJob show).
  pollMs?: number;
}

export function JobsList({ namespace, pollMs = 5000 }: JobsListProps) {
  // A first page prefetched during sign-in renders at once, without a spinner.
  const [data, setData] = useState<TrainingJobList | null>(() => takeArrivedTrainingJobs(namespace));
  const fresh = useRef(data !== null);
  const [err, setErr] = useState<unknown>(null);
  const [type, setType] = useState('all');
  const [status, setStatus] = useState('all');
  const [since, setSince] = useState<{ period: string; iso?: string }>({ period: 'any' });
  const [search, setSearch] = useState('');
  const [searched, setSearched] = useState('');
  const [sort, setSort] = useState('-created');
  const [live, setLive] = useState(true);
  const [streaming, setStreaming] = useState(false);
  const [page, setPage] = useState(FIRST_PAGE.page);
  const [perPage, setPerPage] = useState(FIRST_PAGE.perPage);

  // Typing waits for a pause before it asks the console.
  useEffect(() => {
    const t = setTimeout(() => setSearched(search.trim()), 250);
    return () => clearTimeout(t);
  }, [search]);

  const query = useMemo<JobQuery>(
    () => ({
      type: type === 'all' ? undefined : type,
      status: status === 'all' ? undefined : status,
      since: since.iso,
      search: searched || undefined,
      sort: sort === '-created' ? undefined : sort,
      page,
      perPage,
    }),
    [type, status, since, searched, sort, page, perPage],
  );
  const filtered = query.type !== undefined || query.status !== undefined || query.since !== undefined || query.search !== undefined;

  // Answers may arrive out of order: only the newest request's is shown.
  const latest = useRef(0);
  const load = useCallback(async () => {
    const n = ++latest.current;
    try {
      const list = await api.trainingJobs(namespace, query);
      if (n !== latest.current) return;
      setData(list);
      setErr(null);
    } catch (e) {
      if (n === latest.current) setErr(e);
    }
  }, [namespace, query]);

  useEffect(() => {
    if (fresh.current) {
      fresh.current = false; // the prefetched first page is current
      return;
    }
    void load();
  }, [load]);

  // Live updates: the console's stream says when jobs change, and the page
  // is asked for again only then; without a stream, a timer.
  const canStream = data?.live === true;
  useEffect(() => {
    if (!live || !canStream) return;
    const ctrl = new AbortController();
    setStreaming(true);
    watchTrainingJobs(namespace, () => void load(), ctrl.signal)
      .catch(() => undefined)
      .finally(() => {
        if (!ctrl.signal.aborted) setStreaming(false);
      });
    return () => ctrl.abort();
  }, [live, canStream, namespace, load]);
  const onlyMPIJobs = (data?.types ?? ['MPIJob']).length === 1 || query.type === 'MPIJob';
  useEffect(() => {
    if (!live || (streaming && onlyMPIJobs)) return;
    const t = setInterval(() => void load(), pollMs);
    return () => clearInterval(t);
  }, [live, streaming, onlyMPIJobs, load, pollMs]);

  const filter = (f: () => void) => {
    f();
    setPage(1);
  };
  const sortBy = (column: string) => {
    const key = sortable[column];
    const index = Object.keys(sortable).indexOf(column);
    // Age runs the other way of its creation time: youngest first is ascending.
    const flip = column === 'Age';
    const descending = sort.startsWith('-') !== flip;
    return {
      sortBy: sort.replace(/^-/, '') === key ? { index, direction: descending ? ('desc' as const) : ('asc' as const) } : {},
      columnIndex: index,
      onSort: (_e: unknown, _i: number, direction: 'asc' | 'desc') =>
        filter(() => setSort((direction === 'desc') !== flip ? `-${key}` : key)),
    };
  };
  const rows = data?.items ?? [];
  const now = Date.now();

  return (
    <PageSection>
      <Title headingLevel="h1">Training jobs{namespace ? ` in ${namespace}` : ' in all namespaces'}</Title>
      <Toolbar>
        <ToolbarContent>
          <ToolbarItem>
            <SearchInput
              aria-label="Search by name"
              placeholder="Search by name"
              value={search}
              onChange={(_e, v) => filter(() => setSearch(v))}
              onClear={() => filter(() => setSearch(''))}
            />
          </ToolbarItem>
          <ToolbarItem>
            <FormSelect aria-label="Job type" value={type} onChange={(_e, v) => filter(() => setType(v))}>
              <FormSelectOption value="all" label="All types" />
              {(data?.types ?? ['MPIJob']).map((t) => (
                <FormSelectOption key={t} value={t} label={t} />
              ))}
            </FormSelect>
          </ToolbarItem>
          <ToolbarItem>
            <FormSelect aria-label="Status" value={status} onChange={(_e, v) => filter(() => setStatus(v))}>
              <FormSelectOption value="all" label="All statuses" />
              {PHASES.map((s) => (
                <FormSelectOption key={s} value={s} label={s} />
              ))}
            </FormSelect>
          </ToolbarItem>
          <ToolbarItem>
            <FormSelect
              aria-label="Created"
              value={since.period}
              onChange={(_e, v) =>
                filter(() => setSince({ period: v, iso: periods[v] ? new Date(Date.now() - periods[v]).toISOString().replace(/\.\d+Z$/, 'Z') : undefined }))
              }
            >
              <FormSelectOption value="any" label="Any time" />
              <FormSelectOption value="1h" label="Last hour" />
              <FormSelectOption value="24h" label="Last 24 hours" />
              <FormSelectOption value="7d" label="Last 7 days" />
            </FormSelect>
          </ToolbarItem>
          <ToolbarItem>
            <Switch id="live" label="Live updates" isChecked={live} onChange={(_e, v) => setLive(v)} />
          </ToolbarItem>
          <ToolbarItem>
            <Button onClick={() => navigate('/create')}>Create MPIJob</Button>
          </ToolbarItem>
          <ToolbarItem variant="pagination">
            <Pagination
              itemCount={data?.total ?? 0}
              page={page}
              perPage={perPage}
              onSetPage={(_e, p) => setPage(p)}
              onPerPageSelect={(_e, pp) => {
                setPerPage(pp);
                setPage(1);
              }}
              isCompact
            />
          </ToolbarItem>
        </ToolbarContent>
      </Toolbar>
      {err !== null && <ErrorAlert err={err} />}
      {data?.errors &&
        Object.entries(data.errors).map(([kind, msg]) => (
          <Alert key={kind} variant="warning" isInline isPlain component="h2" title={`${kind}s could not be listed: ${msg}`} />
        ))}
      {data === null && err === null ? (
        <Spinner aria-label="Loading jobs" />
      ) : rows.length === 0 && err === null ? (
        <EmptyState titleText="No training jobs" headingLevel="h2">
          <EmptyStateBody>{filtered || page > 1 ? 'No job matches the filters.' : 'Create an MPIJob to see it here.'}</EmptyStateBody>
        </EmptyState>
      ) : (
        <Table aria-label="Training jobs" variant="compact">
          <Thead>
            <Tr>
              <Th sort={sortBy('Name')}>Name</Th>
              {namespace === null && <Th>Namespace</Th>}
              <Th>Type</Th>
              <Th sort={sortBy('Status')}>Status</Th>
              <Th>Workers</Th>
              <Th sort={sortBy('GPUs')}>GPUs</Th>
              <Th>Queue</Th>
              <Th sort={sortBy('Age')}>Age</Th>
              <Th>Message</Th>
            </Tr>
          </Thead>
          <Tbody>
            {rows.map((j) => (
              <JobRow key={`${j.type}/${j.namespace}/${j.name}`} job={j} showNamespace={namespace === null} now={now} />
            ))}
          </Tbody>
        </Table>
      )}
    </PageSection>
  );
}

function JobRow({ job, showNamespace, now }: { job: JobSummary; showNamespace: boolean; now: number }) {
  const href = jobURL(job.namespace, job.name);
  return (
    <Tr>
      <Td dataLabel="Name">
        {job.type === 'MPIJob' ? (
          <a
            href={href}
            onClick={(e) => {
              e.preventDefault();
              navigate(href);
            }}
          >
            {job.name}
          </a>
        ) : (
          job.name
        )}
      </Td>
      {showNamespace && <Td dataLabel="Namespace">{job.namespace}</Td>}
      <Td dataLabel="Type">{job.type}</Td>
      <Td dataLabel="Status">
        <StatusLabel status={job.status} />
      </Td>
      <Td dataLabel="Workers">
        {job.activeWorkers}/{job.workers}
      </Td>
      <Td dataLabel="GPUs">{job.gpus}</Td>
      <Td dataLabel="Queue">
        {job.queue ?? ''}
        {job.queuePosition ? ` (#${job.queuePosition})` : ''}
      </Td>
      <Td dataLabel="Age">{age(job.created, now)}</Td>
      <Td dataLabel="Message" modifier="truncate">
        {/* Plain text cut by CSS: a Truncate (tooltip and resize observer) per row costs the list page's first render
            more than the rest of the table. */}
        <span title={job.message ?? ''}>{job.message ?? ''}</span>
      </Td>
    </Tr>
  );
}
