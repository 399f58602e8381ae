import { useEffect, useState } from 'react';
import { Alert, Content, PageSection, Progress, ProgressMeasureLocation, Spinner, Title } from '@patternfly/react-core';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import { api } from '../api';
import { ErrorAlert, errorText } from '../components/ErrorAlert';
import type { ClusterGPU, ClusterQuota, NamespaceGPU, Usage } from '../types';
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

// gpuText is a namespace's GPU utilisation cell.
function gpuText(g: NamespaceGPU | undefined): string {
  if (!g) return 'no MPIJob GPUs';
  const allocated = g.gpusAllocated !== undefined ? `${g.gpusAllocated} GPU${g.gpusAllocated === 1 ? '' : 's'} allocated` : '';
  if (g.gpuUtilization === undefined) return allocated ? `no samples (${allocated})` : 'no samples';
  return `${Math.round(g.gpuUtilization)}%` + (allocated ? ` (${allocated})` : '');
}

// AdminView is every namespace's jobs and quotas, with their GPU
// utilisation where Prometheus is configured, for users who may list
// MPIJobs cluster-wide.
export function AdminView({ pollMs }: { pollMs?: number }) {
  const [q, setQ] = useState<ClusterQuota | null>(null);
  const [err, setErr] = useState<unknown>(null);
  const [gpu, setGPU] = useState<ClusterGPU | null>(null);
  const [gpuErr, setGPUErr] = useState<unknown>(null);
  useEffect(() => {
    api.clusterQuota().then(setQ).catch(setErr);
    api.gpuUtilization().then(setGPU).catch(setGPUErr);
  }, []);
  // The GPU column shows when Prometheus answers; namespaces with GPU
  // samples but no quota get a row of their own.
  const showGPU = gpu?.prometheus === true;
  const gpuByNS = new Map((gpu?.namespaces ?? []).map((g) => [g.namespace, g]));
  const quotaNS = new Set(q?.namespaces.map((ns) => ns.namespace) ?? []);
  const gpuOnly = showGPU ? (gpu?.namespaces ?? []).filter((g) => !quotaNS.has(g.namespace)) : [];
  return (
    <>
      <PageSection>
        <Title headingLevel="h1">Cluster quotas</Title>
        {err !== null && <ErrorAlert err={err} />}
        {!q && err === null && <Spinner aria-label="Loading quotas" />}
        {gpuErr !== null && (
          <Alert variant="warning" isInline component="h2" title="GPU utilisation unavailable">
            {errorText(gpuErr)}
          </Alert>
        )}
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
                {showGPU && <Th>GPU utilisation</Th>}
                <Th>Quota</Th>
                <Th>Resource</Th>
                <Th>Usage</Th>
              </Tr>
            </Thead>
            <Tbody>
              {q.namespaces.flatMap((ns) => {
                let first = true;
                // The namespace's GPU utilisation, on its first row.
                const gpuCell = () => {
                  if (!showGPU) return null;
                  const cell = <Td dataLabel="GPU utilisation">{first ? gpuText(gpuByNS.get(ns.namespace)) : ''}</Td>;
                  first = false;
                  return cell;
                };
                const rows = [
                  ...ns.resourceQuotas.flatMap((rq) =>
                    rq.resources.map((r) => (
                      <Tr key={`${ns.namespace}/rq/${rq.name}/${r.resource}`}>
                        <Td dataLabel="Namespace">{ns.namespace}</Td>
                        {gpuCell()}
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
                        {gpuCell()}
                        <Td dataLabel="Quota">LocalQueue {lq.name}</Td>
                        <Td dataLabel="Resource">
                          {r.resource} ({r.flavor})
                        </Td>
                        <Td dataLabel="Usage">{r.used} reserved</Td>
                      </Tr>
                    )),
                  ),
                ];
                if (rows.length === 0 && showGPU && gpuByNS.has(ns.namespace)) {
                  rows.push(
                    <Tr key={`${ns.namespace}/none`}>
                      <Td dataLabel="Namespace">{ns.namespace}</Td>
                      {gpuCell()}
                      <Td dataLabel="Quota">none</Td>
                      <Td dataLabel="Resource" />
                      <Td dataLabel="Usage" />
                    </Tr>,
                  );
                }
                return rows;
              })}
              {gpuOnly.map((g) => (
                <Tr key={`${g.namespace}/gpu`}>
                  <Td dataLabel="Namespace">{g.namespace}</Td>
                  <Td dataLabel="GPU utilisation">{gpuText(g)}</Td>
                  <Td dataLabel="Quota">none</Td>
                  <Td dataLabel="Resource" />
                  <Td dataLabel="Usage" />
                </Tr>
              ))}
            </Tbody>
          </Table>
        )}
      </PageSection>
      <JobsList namespace={null} pollMs={pollMs} />
    </>
  );
}
