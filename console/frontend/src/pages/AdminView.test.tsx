import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { mockFetch } from '../test/fetchMock';
import type { ClusterGPU, ClusterQuota } from '../types';
import { AdminView } from './AdminView';

const quota: ClusterQuota = {
  kueue: false,
  clusterQueues: [],
  namespaces: [
    {
      namespace: 'team-a',
      kueue: false,
      localQueues: [],
      resourceQuotas: [
        {
          name: 'gpus',
          namespace: 'team-a',
          resources: [
            { resource: 'requests.nvidia.com/gpu', limit: '8', used: '4', percent: 50 },
            { resource: 'requests.memory', limit: '64Gi', used: '16Gi', percent: 25 },
          ],
        },
      ],
    },
    { namespace: 'team-b', kueue: false, localQueues: [], resourceQuotas: [{ name: 'gpus', namespace: 'team-b', resources: [{ resource: 'requests.nvidia.com/gpu', limit: '4', used: '0', percent: 0 }] }] },
  ],
};

function mock(gpu: { status?: number; json: ClusterGPU | { error: string; reason: string } }) {
  return mockFetch((c) => {
    if (c.url === '/api/v1/quota') return { json: quota };
    if (c.url === '/api/v1/admin/gpu-utilization') return gpu;
    if (c.url.startsWith('/api/v1/trainingjobs')) return { json: { types: ['MPIJob'], items: [] } };
    return undefined;
  });
}

describe('AdminView', () => {
  it('shows each namespace’s GPU utilisation', async () => {
    mock({
      json: {
        prometheus: true,
        namespaces: [
          { namespace: 'team-a', gpuUtilization: 81.6, gpusAllocated: 4 },
          { namespace: 'team-c', gpusAllocated: 1 },
        ],
      },
    });
    render(<AdminView pollMs={60000} />);
    const table = await screen.findByRole('grid', { name: 'Namespace quotas' });
    expect(await within(table).findByRole('columnheader', { name: 'GPU utilisation' })).toBeInTheDocument();
    // On the namespace's first row only.
    expect(within(table).getAllByText('82% (4 GPUs allocated)')).toHaveLength(1);
    expect(within(table).getByText('no MPIJob GPUs')).toBeInTheDocument(); // team-b
    // A namespace with GPUs but no quota still shows.
    expect(within(table).getByText('team-c')).toBeInTheDocument();
    expect(within(table).getByText('no samples (1 GPU allocated)')).toBeInTheDocument();
  });

  it('hides the column without Prometheus', async () => {
    mock({ json: { prometheus: false, namespaces: [] } });
    render(<AdminView pollMs={60000} />);
    const table = await screen.findByRole('grid', { name: 'Namespace quotas' });
    expect(within(table).getAllByText('team-a')).toHaveLength(2);
    expect(within(table).queryByRole('columnheader', { name: 'GPU utilisation' })).not.toBeInTheDocument();
  });

  it('says why GPU utilisation is unavailable', async () => {
    mock({ status: 502, json: { error: 'Prometheus at http://prometheus:9090 is unreachable', reason: 'BadGateway' } });
    render(<AdminView pollMs={60000} />);
    expect(await screen.findByText('GPU utilisation unavailable')).toBeInTheDocument();
    expect(screen.getByText(/Prometheus at http:\/\/prometheus:9090 is unreachable/)).toBeInTheDocument();
    const table = await screen.findByRole('grid', { name: 'Namespace quotas' });
    expect(within(table).queryByRole('columnheader', { name: 'GPU utilisation' })).not.toBeInTheDocument();
  });
});
