import { useEffect, useState } from 'react';
import { Content, PageSection, Progress, ProgressMeasureLocation, Spinner, Title } from '@patternfly/react-core';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import { api } from '../api';
import { ErrorAlert } from '../components/ErrorAlert';
import type { ClusterQuota, Usage } from '../types';
import { JobsList } from './JobsList';

function UsageBar({ u, label }: { u: Usage; label: string }) {
  if (u.percent === undefined) return <>{u.used}</>;
  return (
    <Progress
      value={Math.min(100, u.percent)}
      title={`${u.used} of ${u.limit}`}
      aria-label={label}
      measureLocation={ProgressMeasureLocation.outside}
      variant={u.percent >= 100 ? 'danger' : u.percent >= 80 ? 'warning' : undefined}
      size="sm"
    />
  );
}

// AdminView is every namespace's jobs and quotas, for users who may list
// MPIJobs cluster-wide.
export function AdminView({ pollMs }: { pollMs?: number }) {
  const [q, setQ] = useState<ClusterQuota | null>(null);
  const [err, setErr] = useState<unknown>(null);
  useEffect(() => {
    api.clusterQuota().then(setQ).catch(setErr);
  }, []);
  return (
    <>
      <PageSection>
        <Title headingLevel="h1">Cluster quotas</Title>
        {err !== null && <ErrorAlert err={err} />}
        {!q && err === null && <Spinner aria-label="Loading quotas" />}
        {q && !q.kueue && <Content component="p">Kueue is not installed: only ResourceQuotas are shown.</Content>}
        {q && q.clusterQueues.length > 0 && (
          <Table aria-label="Cluster queues" variant="compact">
            <Thead>
              <Tr>
                <Th>ClusterQueue</Th>
                <Th>Cohort</Th>
                <Th>Resource</Th>
                <Th>Usage</Th>
                <Th>Admitted</Th>
                <Th>Pending</Th>
              </Tr>
            </Thead>
            <Tbody>
              {q.clusterQueues.flatMap((cq) =>
                cq.resources.map((r) => (
                  <Tr key={`${cq.name}/${r.flavor}/${r.resource}`}>
                    <Td dataLabel="ClusterQueue">{cq.name}</Td>
                    <Td dataLabel="Cohort">{cq.cohort ?? ''}</Td>
                    <Td dataLabel="Resource">
                      {r.resource} ({r.flavor})
                    </Td>
                    <Td dataLabel="Usage">
                      <UsageBar u={r} label={`${cq.name} ${r.resource}`} />
                    </Td>
                    <Td dataLabel="Admitted">{cq.admittedWorkloads}</Td>
                    <Td dataLabel="Pending">{cq.pendingWorkloads}</Td>
                  </Tr>
                )),
              )}
            </Tbody>
          </Table>
        )}
        {q && (
          <Table aria-label="Namespace quotas" variant="compact">
            <Thead>
              <Tr>
                <Th>Namespace</Th>
                <Th>Quota</Th>
                <Th>Resource</Th>
                <Th>Usage</Th>
              </Tr>
            </Thead>
            <Tbody>
              {q.namespaces.flatMap((ns) => [
                ...ns.resourceQuotas.flatMap((rq) =>
                  rq.resources.map((r) => (
                    <Tr key={`${ns.namespace}/rq/${rq.name}/${r.resource}`}>
                      <Td dataLabel="Namespace">{ns.namespace}</Td>
                      <Td dataLabel="Quota">ResourceQuota {rq.name}</Td>
                      <Td dataLabel="Resource">{r.resource}</Td>
                      <Td dataLabel="Usage">
                        <UsageBar u={r} label={`${ns.namespace} ${r.resource}`} />
                      </Td>
                    </Tr>
                  )),
                ),
                ...ns.localQueues.flatMap((lq) =>
                  lq.usage.map((r) => (
                    <Tr key={`${ns.namespace}/lq/${lq.name}/${r.flavor}/${r.resource}`}>
                      <Td dataLabel="Namespace">{ns.namespace}</Td>
                      <Td dataLabel="Quota">LocalQueue {lq.name}</Td>
                      <Td dataLabel="Resource">
                        {r.resource} ({r.flavor})
                      </Td>
                      <Td dataLabel="Usage">{r.used} reserved</Td>
                    </Tr>
                  )),
                ),
              ])}
            </Tbody>
          </Table>
        )}
      </PageSection>
      <JobsList namespace={null} pollMs={pollMs} />
    </>
  );
}
