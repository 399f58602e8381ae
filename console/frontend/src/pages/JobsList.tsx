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
import { api, takeArrivedTrainingJobs } from '../api';
import { ErrorAlert } from '../components/ErrorAlert';
import { StatusLabel } from '../components/StatusLabel';
import { age } from '../components/time';
import { jobURL, navigate } from '../router';
import type { JobSummary, TrainingJobList } from '../types';
import { PHASES } from '../types.gen';

const periods: Record<string, number> = { any: 0, '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3 };

export interface JobsListProps {
  // namespace is the namespace shown, or null for all namespaces.
  namespace: string | null;
  // pollMs is how often the list refreshes while live updates are on.
  pollMs?: number;
}

export function JobsList({ namespace, pollMs = 5000 }: JobsListProps) {
  // A list prefetched during sign-in renders at once, without a spinner.
  const [data, setData] = useState<TrainingJobList | null>(() => takeArrivedTrainingJobs(namespace));
  const fresh = useRef(data !== null);
  const [err, setErr] = useState<unknown>(null);
  const [type, setType] = useState('all');
  const [status, setStatus] = useState('all');
  const [period, setPeriod] = useState('any');
  const [search, setSearch] = useState('');
  const [live, setLive] = useState(true);
  const [page, setPage] = useState(1);
  const [perPage, setPerPage] = useState(20);

  const load = useCallback(async () => {
    try {
      setData(await api.trainingJobs(namespace));
      setErr(null);
    } catch (e) {
      setErr(e);
    }
  }, [namespace]);

  useEffect(() => {
    if (fresh.current) {
      fresh.current = false; // the prefetched list is current; polling refreshes it
      return;
    }
    setData(null);
    void load();
  }, [load]);

  useEffect(() => {
    if (!live) return;
    const t = setInterval(() => void load(), pollMs);
    return () => clearInterval(t);
  }, [live, load, pollMs]);

  const rows = useMemo(() => {
    const since = periods[period] ? Date.now() - periods[period] : 0;
    const q = search.trim().toLowerCase();
    return (data?.items ?? []).filter(
      (j) =>
        (type === 'all' || j.type === type) &&
        (status === 'all' || j.status === status) &&
        (!since || Date.parse(j.created) >= since) &&
        (!q || j.name.toLowerCase().includes(q) || j.namespace.toLowerCase().includes(q)),
    );
  }, [data, type, status, period, search]);
  const shown = rows.slice((page - 1) * perPage, page * perPage);
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
              onChange={(_e, v) => {
                setSearch(v);
                setPage(1);
              }}
              onClear={() => setSearch('')}
            />
          </ToolbarItem>
          <ToolbarItem>
            <FormSelect aria-label="Job type" value={type} onChange={(_e, v) => setType(v)}>
              <FormSelectOption value="all" label="All types" />
              {(data?.types ?? ['MPIJob']).map((t) => (
                <FormSelectOption key={t} value={t} label={t} />
              ))}
            </FormSelect>
          </ToolbarItem>
          <ToolbarItem>
            <FormSelect aria-label="Status" value={status} onChange={(_e, v) => setStatus(v)}>
              <FormSelectOption value="all" label="All statuses" />
              {PHASES.map((s) => (
                <FormSelectOption key={s} value={s} label={s} />
              ))}
            </FormSelect>
          </ToolbarItem>
          <ToolbarItem>
            <FormSelect aria-label="Created" value={period} onChange={(_e, v) => setPeriod(v)}>
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
              itemCount={rows.length}
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
          <EmptyStateBody>
            {data?.items.length ? 'No job matches the filters.' : 'Create an MPIJob to see it here.'}
          </EmptyStateBody>
        </EmptyState>
      ) : (
        <Table aria-label="Training jobs" variant="compact">
          <Thead>
            <Tr>
              <Th>Name</Th>
              {namespace === null && <Th>Namespace</Th>}
              <Th>Type</Th>
              <Th>Status</Th>
              <Th>Workers</Th>
              <Th>GPUs</Th>
              <Th>Queue</Th>
              <Th>Age</Th>
              <Th>Message</Th>
            </Tr>
          </Thead>
          <Tbody>
            {shown.map((j) => (
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
