import { type ReactNode, useCallback, useEffect, useRef, useState } from 'react';
import {
  Alert,
  Breadcrumb,
  BreadcrumbItem,
  Button,
  CodeBlock,
  CodeBlockCode,
  Content,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  EmptyState,
  EmptyStateBody,
  Flex,
  FlexItem,
  FormSelect,
  FormSelectOption,
  Modal,
  ModalBody,
  ModalFooter,
  ModalHeader,
  PageSection,
  Spinner,
  Switch,
  Tab,
  TabTitleText,
  Tabs,
  Title,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import { LogViewer } from '@patternfly/react-log-viewer';
import { api, followLogs, type LogSelector } from '../api';
import { ErrorAlert, errorText } from '../components/ErrorAlert';
import { LineChart } from '../components/LineChart';
import { StatusLabel } from '../components/StatusLabel';
import { age } from '../components/time';
import { navigate } from '../router';
import type { ConsoleConfig, EventView, JobDetails as Details, JobMetrics } from '../types';

export interface JobDetailsProps {
  namespace: string;
  name: string;
  config?: ConsoleConfig | null;
  pollMs?: number;
}

export function JobDetails({ namespace, name, config, pollMs = 5000 }: JobDetailsProps) {
  const [d, setD] = useState<Details | null>(null);
  const [err, setErr] = useState<unknown>(null);
  const [tab, setTab] = useState<string | number>('overview');
  const [actionErr, setActionErr] = useState<unknown>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);

  const load = useCallback(async () => {
    try {
      setD(await api.job(namespace, name));
      setErr(null);
    } catch (e) {
      setErr(e);
    }
  }, [namespace, name]);
  useEffect(() => {
    void load();
    const t = setInterval(() => void load(), pollMs);
    return () => clearInterval(t);
  }, [load, pollMs]);

  const act = async (f: () => Promise<unknown>, after?: () => void) => {
    try {
      await f();
      setActionErr(null);
      if (after) after();
      else void load();
    } catch (e) {
      setActionErr(e);
    }
  };

  if (!d) {
    return (
      <PageSection>
        <Title headingLevel="h1">{name}</Title>
        {err !== null ? <ErrorAlert err={err} /> : <Spinner aria-label="Loading the job" />}
      </PageSection>
    );
  }
  const s = d.summary;
  const suspended = s.status === 'Suspended' || s.status === 'Queued';
  const finished = s.status === 'Succeeded' || s.status === 'Failed';
  return (
    <PageSection>
      <Breadcrumb>
        <BreadcrumbItem
          to="/"
          onClick={(e) => {
            e.preventDefault();
            navigate('/');
          }}
        >
          Training jobs
        </BreadcrumbItem>
        <BreadcrumbItem isActive>{name}</BreadcrumbItem>
      </Breadcrumb>
      <Flex alignItems={{ default: 'alignItemsCenter' }}>
        <FlexItem>
          <Title headingLevel="h1">
            {name} <StatusLabel status={s.status} />
          </Title>
        </FlexItem>
        <FlexItem align={{ default: 'alignRight' }}>
          {!finished &&
            (suspended ? (
              <Button variant="secondary" onClick={() => act(() => api.resume(namespace, name))}>
                Resume
              </Button>
            ) : (
              <Button variant="secondary" onClick={() => act(() => api.suspend(namespace, name))}>
                Suspend
              </Button>
            ))}{' '}
          <Button variant="danger" onClick={() => setConfirmDelete(true)}>
            Delete
          </Button>
        </FlexItem>
      </Flex>
      {err !== null && <ErrorAlert err={err} title="Refreshing failed" />}
      {actionErr !== null && <ErrorAlert err={actionErr} />}
      <Modal isOpen={confirmDelete} onClose={() => setConfirmDelete(false)} variant="small" aria-labelledby="delete-title">
        <ModalHeader title={`Delete ${name}?`} labelId="delete-title" titleIconVariant="warning" />
        <ModalBody>The job, its launcher and its workers are deleted. Logs are lost.</ModalBody>
        <ModalFooter>
          <Button variant="danger" onClick={() => act(() => api.remove(namespace, name), () => navigate('/'))}>
            Delete
          </Button>
          <Button variant="link" onClick={() => setConfirmDelete(false)}>
            Cancel
          </Button>
        </ModalFooter>
      </Modal>
      <Tabs activeKey={tab} onSelect={(_e, k) => setTab(k)} aria-label="Job details" mountOnEnter unmountOnExit>
        <Tab eventKey="overview" title={<TabTitleText>Overview</TabTitleText>}>
          <Overview d={d} />
        </Tab>
        <Tab eventKey="configuration" title={<TabTitleText>Configuration</TabTitleText>}>
          <CodeBlock>
            <CodeBlockCode>{d.yaml}</CodeBlockCode>
          </CodeBlock>
        </Tab>
        <Tab eventKey="workers" title={<TabTitleText>Workers</TabTitleText>}>
          <Workers d={d} />
        </Tab>
        <Tab eventKey="logs" title={<TabTitleText>Logs</TabTitleText>}>
          <Logs namespace={namespace} name={name} workers={s.workers} finished={finished} />
        </Tab>
        <Tab eventKey="metrics" title={<TabTitleText>Metrics</TabTitleText>}>
          <Metrics config={config} namespace={namespace} name={name} finished={finished} />
        </Tab>
        <Tab eventKey="events" title={<TabTitleText>Events</TabTitleText>}>
          <Events namespace={namespace} name={name} />
        </Tab>
      </Tabs>
    </PageSection>
  );
}

function Overview({ d }: { d: Details }) {
  const s = d.summary;
  const conds = d.mpijob?.status?.conditions ?? [];
  return (
    <>
      {d.diagnosis && (
        <Alert variant={d.diagnosis.severity} isInline component="h2" title={`Diagnosis: ${d.diagnosis.reason}`}>
          <p>{d.diagnosis.message}</p>
          {d.diagnosis.remediation && !d.diagnosis.message.includes(d.diagnosis.remediation) ? (
            <p>What to do in general: {d.diagnosis.remediation}.</p>
          ) : null}
        </Alert>
      )}
      <DescriptionList isHorizontal columnModifier={{ default: '2Col' }}>
        {(
          [
            ['Namespace', s.namespace],
            ['Status', s.status],
            ['Workers', `${s.activeWorkers} active of ${s.workers}`],
            ['GPUs', String(s.gpus)],
            ['Queue', s.queue ? (s.queuePosition ? `${s.queue} (position ${s.queuePosition} in line)` : s.queue) : 'none'],
            ['Created', new Date(s.created).toLocaleString()],
            ['Started', s.started ? new Date(s.started).toLocaleString() : '-'],
            ['Finished', s.finished ? new Date(s.finished).toLocaleString() : '-'],
            ['Kueue workload', d.workload ? `${d.workload.name} (${d.workload.admitted ? 'admitted' : 'pending'})` : 'none'],
          ] as const
        ).map(([k, v]) => (
          <DescriptionListGroup key={k}>
            <DescriptionListTerm>{k}</DescriptionListTerm>
            <DescriptionListDescription>{v}</DescriptionListDescription>
          </DescriptionListGroup>
        ))}
      </DescriptionList>
      <Title headingLevel="h2">Conditions</Title>
      <Table aria-label="Conditions" variant="compact">
        <Thead>
          <Tr>
            <Th>Type</Th>
            <Th>Status</Th>
            <Th>Reason</Th>
            <Th>Message</Th>
            <Th>Age</Th>
          </Tr>
        </Thead>
        <Tbody>
          {conds.map((c) => (
            <Tr key={c.type}>
              <Td dataLabel="Type">{c.type}</Td>
              <Td dataLabel="Status">{c.status}</Td>
              <Td dataLabel="Reason">{c.reason}</Td>
              <Td dataLabel="Message">{c.message}</Td>
              <Td dataLabel="Age">{age(c.lastTransitionTime)}</Td>
            </Tr>
          ))}
        </Tbody>
      </Table>
    </>
  );
}

function Workers({ d }: { d: Details }) {
  return (
    <Table aria-label="Pods" variant="compact">
      <Thead>
        <Tr>
          <Th>Pod</Th>
          <Th>Role</Th>
          <Th>Phase</Th>
          <Th>Ready</Th>
          <Th>Node</Th>
          <Th>Restarts</Th>
          <Th>State</Th>
        </Tr>
      </Thead>
      <Tbody>
        {d.pods.map((p) => (
          <Tr key={p.name}>
            <Td dataLabel="Pod">{p.name}</Td>
            <Td dataLabel="Role">{p.role}</Td>
            <Td dataLabel="Phase">{p.phase}</Td>
            <Td dataLabel="Ready">{p.ready ? 'yes' : 'no'}</Td>
            <Td dataLabel="Node">{p.node}</Td>
            <Td dataLabel="Restarts">{p.restarts}</Td>
            <Td dataLabel="State">{[p.state, p.message].filter(Boolean).join(': ')}</Td>
          </Tr>
        ))}
      </Tbody>
    </Table>
  );
}

function selectorValue(s: LogSelector): string {
  return s.role === 'worker' ? `worker-${s.index}` : s.role;
}

function parseSelector(v: string): LogSelector {
  if (v.startsWith('worker-')) return { role: 'worker', index: Number(v.slice(7)) };
  return { role: v as 'launcher' | 'all' };
}

export function Logs({ namespace, name, workers, finished }: { namespace: string; name: string; workers: number; finished: boolean }) {
  const [sel, setSel] = useState<LogSelector>({ role: 'launcher' });
  const [follow, setFollow] = useState(!finished);
  const [lines, setLines] = useState<string[]>([]);
  const [err, setErr] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const pending = useRef<string[]>([]);

  useEffect(() => {
    const ctrl = new AbortController();
    setLines([]);
    setErr(null);
    setLoading(true);
    if (!follow) {
      api
        .logs(namespace, name, sel)
        .then((t) => setLines(t.replace(/\n$/, '').split('\n')))
        .catch((e) => setErr(e))
        .finally(() => setLoading(false));
      return () => ctrl.abort();
    }
    // Lines arrive faster than React should render: batch them.
    const flush = setInterval(() => {
      if (pending.current.length) {
        const batch = pending.current;
        pending.current = [];
        setLines((l) => l.concat(batch));
      }
    }, 250);
    followLogs(api.logsURL(namespace, name, sel, { follow: true }), (l) => pending.current.push(l), ctrl.signal)
      .catch((e) => {
        if (!ctrl.signal.aborted) setErr(e);
      })
      .finally(() => setLoading(false));
    setLoading(false);
    return () => {
      ctrl.abort();
      clearInterval(flush);
    };
  }, [namespace, name, sel, follow]);

  const options = ['launcher', ...Array.from({ length: workers }, (_v, i) => `worker-${i}`), 'all'];
  return (
    <>
      <Toolbar>
        <ToolbarContent>
          <ToolbarItem>
            <FormSelect aria-label="Pod" value={selectorValue(sel)} onChange={(_e, v) => setSel(parseSelector(v))}>
              {options.map((o) => (
                <FormSelectOption key={o} value={o} label={o === 'all' ? 'All pods' : o} />
              ))}
            </FormSelect>
          </ToolbarItem>
          <ToolbarItem>
            <Switch id="follow" label="Follow" isChecked={follow} onChange={(_e, v) => setFollow(v)} />
          </ToolbarItem>
          <ToolbarItem>
            <Button
              variant="secondary"
              onClick={async () => {
                try {
                  const text = await api.logs(namespace, name, sel);
                  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
                  const a = document.createElement('a');
                  a.href = url;
                  a.download = `${name}-${selectorValue(sel)}.log`;
                  a.click();
                  URL.revokeObjectURL(url);
                } catch (e) {
                  setErr(e);
                }
              }}
            >
              Download
            </Button>
          </ToolbarItem>
        </ToolbarContent>
      </Toolbar>
      {err !== null && (
        <Alert variant="warning" isInline component="h2" title="Logs unavailable">
          {errorText(err)}
        </Alert>
      )}
      {loading ? <Spinner aria-label="Loading logs" /> : <LogViewer data={lines} height={480} hasLineNumbers isTextWrapped={false} />}
    </>
  );
}

const metricsRanges: [string, string][] = [
  ['', 'Job lifetime (up to 24 h)'],
  ['1h', 'Last hour'],
  ['6h', 'Last 6 hours'],
  ['24h', 'Last 24 hours'],
  ['168h', 'Last 7 days'],
];

function GrafanaLink({ url, children }: { url: string; children: ReactNode }) {
  return (
    <a href={url} target="_blank" rel="noreferrer">
      {children}
    </a>
  );
}

// Metrics charts the job's GPU utilisation and throughput from the
// console's Prometheus, and links to Grafana where it is configured.
export function Metrics({
  config,
  namespace,
  name,
  finished,
  refreshMs = 30000,
}: {
  config?: ConsoleConfig | null;
  namespace: string;
  name: string;
  finished?: boolean;
  refreshMs?: number;
}) {
  const [range, setRange] = useState('');
  const [m, setM] = useState<JobMetrics | null>(null);
  const [err, setErr] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);

  const load = useCallback(async () => {
    setLoading(true);
    try {
      setM(await api.metrics(namespace, name, range || undefined));
      setErr(null);
    } catch (e) {
      setErr(e);
    } finally {
      setLoading(false);
    }
  }, [namespace, name, range]);
  useEffect(() => {
    void load();
    if (finished) return;
    const t = setInterval(() => void load(), refreshMs);
    return () => clearInterval(t);
  }, [load, finished, refreshMs]);

  const fallbackGrafana = config?.grafanaURL ? `${config.grafanaURL.replace(/\/$/, '')}/d/mpijob-gpu` : '';
  const grafana = m?.grafana || fallbackGrafana;

  if (m && !m.prometheus) {
    return (
      <EmptyState titleText="Metrics are not configured" headingLevel="h2" variant="sm">
        <EmptyStateBody>
          The console has no Prometheus to chart this job&apos;s GPU utilisation and throughput from. Start it with{' '}
          <code>--prometheus-url</code> (the platform&apos;s <code>spec.console.prometheusURL</code>); docs/observability.md
          lists the recording rules it reads.
          {grafana && (
            <>
              {' '}
              Meanwhile the <GrafanaLink url={grafana}>Grafana dashboard</GrafanaLink> shows job {name} in namespace {namespace}.
            </>
          )}
        </EmptyStateBody>
      </EmptyState>
    );
  }

  const s = m?.series;
  const eff = s?.scalingEfficiency.length ? s.scalingEfficiency[s.scalingEfficiency.length - 1][1] : undefined;
  return (
    <>
      <Toolbar>
        <ToolbarContent>
          <ToolbarItem>
            <FormSelect aria-label="Time range" value={range} onChange={(_e, v) => setRange(v)}>
              {metricsRanges.map(([v, label]) => (
                <FormSelectOption key={v} value={v} label={label} />
              ))}
            </FormSelect>
          </ToolbarItem>
          <ToolbarItem>
            <Button variant="secondary" onClick={() => void load()} isDisabled={loading}>
              Refresh
            </Button>
          </ToolbarItem>
          {grafana && (
            <ToolbarItem alignSelf="center">
              <GrafanaLink url={grafana}>Open in Grafana</GrafanaLink>
            </ToolbarItem>
          )}
        </ToolbarContent>
      </Toolbar>
      {err !== null && (
        <Alert variant="danger" isInline component="h2" title="Metrics unavailable">
          {errorText(err)}
        </Alert>
      )}
      {!s && err === null && <Spinner aria-label="Loading metrics" />}
      {s && (
        <>
          <Flex>
            <FlexItem style={{ flex: '1 1 360px' }}>
              <LineChart title="GPU utilisation" unit="%" yMax={100} points={s.gpuUtilization} step={m?.step} />
            </FlexItem>
            <FlexItem style={{ flex: '1 1 360px' }}>
              <LineChart title="Throughput" unit="samples/s" points={s.samplesPerSecond} step={m?.step} />
            </FlexItem>
          </Flex>
          <DescriptionList isHorizontal>
            <DescriptionListGroup>
              <DescriptionListTerm>Scaling efficiency</DescriptionListTerm>
              <DescriptionListDescription>
                {eff !== undefined
                  ? `${Math.round(eff * 100)}% of linear scaling`
                  : 'no data: the training script exposes no mpijob_training_baseline_samples_per_second (see docs/observability.md)'}
              </DescriptionListDescription>
            </DescriptionListGroup>
          </DescriptionList>
        </>
      )}
    </>
  );
}

function Events({ namespace, name }: { namespace: string; name: string }) {
  const [evs, setEvs] = useState<EventView[] | null>(null);
  const [err, setErr] = useState<unknown>(null);
  useEffect(() => {
    api
      .events(namespace, name)
      .then((r) => setEvs(r.items))
      .catch(setErr);
  }, [namespace, name]);
  if (err) return <ErrorAlert err={err} />;
  if (!evs) return <Spinner aria-label="Loading events" />;
  if (evs.length === 0) return <Content component="p">No events.</Content>;
  return (
    <Table aria-label="Events" variant="compact">
      <Thead>
        <Tr>
          <Th>Type</Th>
          <Th>Reason</Th>
          <Th>Object</Th>
          <Th>Message</Th>
          <Th>Count</Th>
          <Th>Age</Th>
        </Tr>
      </Thead>
      <Tbody>
        {evs.map((e, i) => (
          <Tr key={i}>
            <Td dataLabel="Type">{e.type}</Td>
            <Td dataLabel="Reason">{e.reason}</Td>
            <Td dataLabel="Object">{e.object}</Td>
            <Td dataLabel="Message">{e.message}</Td>
            <Td dataLabel="Count">{e.count}</Td>
            <Td dataLabel="Age">{age(e.time)}</Td>
          </Tr>
        ))}
      </Tbody>
    </Table>
  );
}
