import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { mockFetch } from '../test/fetchMock';
import type { JobDetails as Details, Phase } from '../types';
import { JobDetails, Metrics } from './JobDetails';

const details = (status: Phase): Details => ({
  summary: { type: 'MPIJob', namespace: 'team-a', name: 'pi', status, workers: 2, activeWorkers: 0, gpus: 2, created: new Date().toISOString() },
  diagnosis:
    status === 'Failed'
      ? {
          severity: 'danger',
          reason: 'OOMKilled',
          message: 'worker-1 was OOMKilled at 1Gi: raise the worker memory limit or lower the batch size',
          remediation: 'raise the memory limit of the pods that were killed, or lower the batch size',
        }
      : undefined,
  mpijob: { status: { conditions: [{ type: 'Failed', status: 'True', reason: 'OOMKilled', message: 'worker-1 was OOMKilled' }] } },
  yaml: 'apiVersion: kubeflow.org/v2beta1\nkind: MPIJob\nmetadata:\n  name: pi\n',
  pods: [
    { name: 'pi-launcher-x', role: 'launcher', phase: 'Failed', ready: false, restarts: 0, node: 'gpu-0' },
    { name: 'pi-worker-1', role: 'worker', index: 1, phase: 'Failed', ready: false, restarts: 2, state: 'Terminated: OOMKilled (exit code 137)' },
  ],
  describe: 'Name: pi',
});

describe('JobDetails', () => {
  it('shows the diagnosis, configuration, workers, events and logs', async () => {
    const calls = mockFetch((c) => {
      if (c.url === '/api/v1/namespaces/team-a/mpijobs/pi') return { json: details('Failed') };
      if (c.url === '/api/v1/namespaces/team-a/mpijobs/pi/events')
        return { json: { items: [{ type: 'Warning', reason: 'OOMKilled', object: 'Pod/pi-worker-1', message: 'container mpi OOMKilled', count: 1, time: new Date().toISOString() }] } };
      if (c.url.startsWith('/api/v1/namespaces/team-a/mpijobs/pi/logs')) return { text: 'step 1 loss 0.9\nstep 2 loss 0.5\n' };
      if (c.url === '/api/v1/namespaces/team-a/mpijobs/pi/metrics') return { json: { prometheus: false, grafana: '' } };
      return undefined;
    });
    render(<JobDetails namespace="team-a" name="pi" pollMs={60000} />);
    expect(await screen.findByText('Diagnosis: OOMKilled')).toBeInTheDocument();
    expect(screen.getByText(/What to do in general: raise the memory limit/)).toBeInTheDocument();
    expect(screen.getByText(/raise the worker memory limit/)).toBeInTheDocument();
    // A finished job offers no suspend or resume.
    expect(screen.queryByRole('button', { name: 'Suspend' })).not.toBeInTheDocument();

    const user = userEvent.setup();
    await user.click(screen.getByRole('tab', { name: 'Configuration' }));
    expect(screen.getByText(/kind: MPIJob/)).toBeInTheDocument();

    await user.click(screen.getByRole('tab', { name: 'Workers' }));
    expect(screen.getByText('Terminated: OOMKilled (exit code 137)')).toBeInTheDocument();

    await user.click(screen.getByRole('tab', { name: 'Events' }));
    expect(await screen.findByText('container mpi OOMKilled')).toBeInTheDocument();

    await user.click(screen.getByRole('tab', { name: 'Logs' }));
    await waitFor(() => expect(calls.some((c) => c.url === '/api/v1/namespaces/team-a/mpijobs/pi/logs?role=launcher')).toBe(true));
    await user.selectOptions(screen.getByLabelText('Pod'), 'worker-1');
    await waitFor(() => expect(calls.some((c) => c.url === '/api/v1/namespaces/team-a/mpijobs/pi/logs?role=worker&index=1')).toBe(true));

    await user.click(screen.getByRole('tab', { name: 'Metrics' }));
    expect(await screen.findByText(/Metrics are not configured/)).toBeInTheDocument();
  });

  it('suspends a running job and shows a forbidden action', async () => {
    const calls = mockFetch((c) => {
      if (c.method === 'GET' && c.url === '/api/v1/namespaces/team-a/mpijobs/pi') return { json: details('Running') };
      if (c.method === 'POST' && c.url.endsWith('/suspend'))
        return { status: 403, json: { error: 'mpijobs.kubeflow.org "pi" is forbidden: User "victor" cannot patch resource "mpijobs"', reason: 'Forbidden' } };
      return undefined;
    });
    render(<JobDetails namespace="team-a" name="pi" pollMs={60000} />);
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Suspend' }));
    expect(calls.some((c) => c.method === 'POST' && c.url === '/api/v1/namespaces/team-a/mpijobs/pi/suspend')).toBe(true);
    expect(await screen.findByText(/cannot patch resource "mpijobs"/)).toBeInTheDocument();
  });

  it('shows a 404 for a job that does not exist', async () => {
    mockFetch(() => ({ status: 404, json: { error: 'mpijobs.kubeflow.org "nope" not found', reason: 'NotFound' } }));
    render(<JobDetails namespace="team-a" name="nope" pollMs={60000} />);
    expect(await screen.findByText(/"nope" not found/)).toBeInTheDocument();
  });
});

describe('Metrics tab', () => {
  const t0 = 1767322800;
  const series = (values: number[]) => values.map((v, i) => [t0 + 60 * i, v] as [number, number]);

  it('charts GPU utilisation and throughput and shows the scaling efficiency', async () => {
    const calls = mockFetch((c) =>
      c.url.startsWith('/api/v1/namespaces/team-a/mpijobs/pi/metrics')
        ? {
            json: {
              prometheus: true,
              start: t0,
              end: t0 + 180,
              step: 60,
              series: { gpuUtilization: series([80, 85, 90.5]), samplesPerSecond: series([1200, 1250, 1300]), scalingEfficiency: series([0.9, 0.92]) },
              grafana: 'https://grafana.example.com/d/mpijob-gpu?var-namespace=team-a&var-mpijob=pi',
            },
          }
        : undefined,
    );
    render(<Metrics namespace="team-a" name="pi" finished />);
    const gpu = await screen.findByRole('img', { name: 'GPU utilisation' });
    expect(gpu).toHaveAccessibleDescription(/3 samples .* latest 90\.5 %, lowest 80 %, highest 90\.5 %/);
    expect(gpu.querySelector('path')?.getAttribute('d')).toMatch(/^M.* L.* L.*$/);
    expect(screen.getByRole('img', { name: 'Throughput' })).toHaveAccessibleDescription(/latest 1300 samples\/s/);
    expect(screen.getByText('92% of linear scaling')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Open in Grafana' })).toHaveAttribute('href', 'https://grafana.example.com/d/mpijob-gpu?var-namespace=team-a&var-mpijob=pi');
    expect(calls[0].url).toBe('/api/v1/namespaces/team-a/mpijobs/pi/metrics');

    const user = userEvent.setup();
    await user.selectOptions(screen.getByLabelText('Time range'), '6h');
    await waitFor(() => expect(calls.some((c) => c.url === '/api/v1/namespaces/team-a/mpijobs/pi/metrics?range=6h')).toBe(true));
  });

  it('says when a series has no samples', async () => {
    mockFetch(() => ({ json: { prometheus: true, step: 60, series: { gpuUtilization: [], samplesPerSecond: [], scalingEfficiency: [] }, grafana: '' } }));
    render(<Metrics namespace="team-a" name="pi" finished />);
    expect(await screen.findByRole('img', { name: 'GPU utilisation' })).toHaveAccessibleDescription('No samples in this range.');
    expect(screen.getAllByText('No data in this range')).toHaveLength(2);
    expect(screen.getByText(/no data: the training script exposes no/)).toBeInTheDocument();
    expect(screen.queryByRole('link', { name: 'Open in Grafana' })).not.toBeInTheDocument();
  });

  it('links Grafana when Prometheus is not configured', async () => {
    mockFetch(() => ({ json: { prometheus: false, grafana: 'https://grafana.example.com/d/mpijob-gpu?var-namespace=team-a&var-mpijob=pi' } }));
    render(<Metrics namespace="team-a" name="pi" finished />);
    expect(await screen.findByRole('heading', { name: 'Metrics are not configured' })).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Grafana dashboard' })).toHaveAttribute('href', 'https://grafana.example.com/d/mpijob-gpu?var-namespace=team-a&var-mpijob=pi');
    expect(screen.queryByRole('img')).not.toBeInTheDocument();
  });

  it('shows Prometheus errors', async () => {
    mockFetch(() => ({
      status: 502,
      json: { error: 'Prometheus at http://prometheus:9090 is unreachable: dial tcp: connection refused', reason: 'BadGateway' },
    }));
    render(<Metrics namespace="team-a" name="pi" finished config={{ version: 'v1', metrics: true, grafanaURL: 'https://grafana.example.com/', quickstartURL: '' }} />);
    expect(await screen.findByText('Metrics unavailable')).toBeInTheDocument();
    expect(screen.getByText(/Prometheus at http:\/\/prometheus:9090 is unreachable/)).toBeInTheDocument();
    // Grafana may still work: the link stays.
    expect(screen.getByRole('link', { name: 'Open in Grafana' })).toHaveAttribute('href', 'https://grafana.example.com/d/mpijob-gpu');
  });
});
