import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { mockFetch } from '../test/fetchMock';
import type { JobSummary, Phase } from '../types';
import { JobsList } from './JobsList';

const now = new Date().toISOString();
const old = new Date(Date.now() - 3 * 86400e3).toISOString();
const job = (name: string, status: Phase, type = 'MPIJob', created = now): JobSummary => ({
  type,
  namespace: 'team-a',
  name,
  status,
  workers: 4,
  activeWorkers: status === 'Running' ? 4 : 0,
  gpus: 4,
  created,
  message: status === 'Failed' ? 'worker-3 was OOMKilled at 1Gi: raise the worker memory limit or lower the batch size' : undefined,
});

describe('JobsList', () => {
  it('shows a queued job’s place in its LocalQueue', async () => {
    mockFetch((c) =>
      c.url === '/api/v1/namespaces/team-a/trainingjobs'
        ? { json: { types: ['MPIJob'], items: [{ ...job('waiting', 'Queued'), queue: 'default', queuePosition: 3 }, { ...job('nopos', 'Queued'), queue: 'small' }] } }
        : undefined,
    );
    render(<JobsList namespace="team-a" pollMs={60000} />);
    expect(await screen.findByText('default (#3)')).toBeInTheDocument();
    expect(screen.getByText('small')).toBeInTheDocument();
  });

  it('lists, filters and searches training jobs', async () => {
    const calls = mockFetch((c) =>
      c.url === '/api/v1/namespaces/team-a/trainingjobs'
        ? { json: { types: ['MPIJob', 'PyTorchJob'], items: [job('pi', 'Running'), job('bad', 'Failed'), job('bert', 'Succeeded', 'PyTorchJob', old)] } }
        : undefined,
    );
    render(<JobsList namespace="team-a" pollMs={60000} />);
    const table = await screen.findByRole('grid', { name: 'Training jobs' }).catch(() => screen.findByRole('table', { name: 'Training jobs' }));
    expect(within(table).getByRole('link', { name: 'pi' })).toHaveAttribute('href', '/jobs/team-a/pi');
    expect(within(table).getByText(/OOMKilled/)).toBeInTheDocument();
    expect(within(table).getByText('bert')).toBeInTheDocument();
    expect(calls[0].url).toBe('/api/v1/namespaces/team-a/trainingjobs');

    const user = userEvent.setup();
    await user.selectOptions(screen.getByLabelText('Job type'), 'PyTorchJob');
    expect(screen.queryByText('pi')).not.toBeInTheDocument();
    expect(screen.getByText('bert')).toBeInTheDocument();

    await user.selectOptions(screen.getByLabelText('Job type'), 'all');
    await user.selectOptions(screen.getByLabelText('Status'), 'Failed');
    expect(screen.getByText('bad')).toBeInTheDocument();
    expect(screen.queryByText('bert')).not.toBeInTheDocument();

    await user.selectOptions(screen.getByLabelText('Status'), 'all');
    await user.selectOptions(screen.getByLabelText('Created'), '24h');
    expect(screen.queryByText('bert')).not.toBeInTheDocument();
    await user.selectOptions(screen.getByLabelText('Created'), 'any');

    await user.type(screen.getByPlaceholderText('Search by name'), 'ber');
    expect(screen.getByText('bert')).toBeInTheDocument();
    expect(screen.queryByText('bad')).not.toBeInTheDocument();
  });

  it('updates live by polling', async () => {
    let n = 0;
    mockFetch(() => {
      n++;
      return { json: { types: ['MPIJob'], items: n === 1 ? [job('pi', 'Running')] : [job('pi', 'Succeeded')] } };
    });
    render(<JobsList namespace={null} pollMs={50} />);
    expect(await screen.findByText('Running')).toBeInTheDocument();
    await waitFor(() => expect(screen.getByText('Succeeded')).toBeInTheDocument());
    expect(screen.getByText('Namespace')).toBeInTheDocument();
  });

  it('shows the API error when the list is forbidden', async () => {
    mockFetch(() => ({
      status: 403,
      json: { error: 'mpijobs.kubeflow.org is forbidden: User "alice" cannot list resource "mpijobs" in the namespace "team-b"', reason: 'Forbidden' },
    }));
    render(<JobsList namespace="team-b" pollMs={60000} />);
    expect(await screen.findByText(/You do not have access/)).toBeInTheDocument();
    expect(screen.getByText(/cannot list resource "mpijobs"/)).toBeInTheDocument();
  });
});
