import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { mockFetch, type Call } from '../test/fetchMock';
import { CreateWizard, toForm } from './CreateWizard';

const quota = {
  namespace: 'team-a',
  kueue: true,
  resourceQuotas: [{ name: 'gpus', namespace: 'team-a', resources: [{ resource: 'requests.nvidia.com/gpu', limit: '8', used: '2', percent: 25 }] }],
  localQueues: [{ name: 'gpus', namespace: 'team-a', clusterQueue: 'team-a-cq', pendingWorkloads: 0, admittedWorkloads: 1, usage: [] }],
};

const input = (id: string) => document.getElementById(id) as HTMLElement;

async function fillAndReview(user: ReturnType<typeof userEvent.setup>) {
  await user.type(input('f-name'), 'pi');
  await user.click(screen.getByRole('button', { name: 'Next' }));
  await user.type(input('f-image'), 'mpioperator/mpi-pi:openmpi');
  await user.type(input('f-command'), 'mpirun -n 2 /home/mpiuser/pi');
  await user.click(screen.getByRole('button', { name: 'Next' }));
  await user.click(screen.getByRole('button', { name: 'Next' }));
  await user.click(screen.getByRole('button', { name: 'Next' }));
}

describe('CreateWizard', () => {
  it('creates a job from five steps after a dry run with its YAML preview', async () => {
    const calls: Call[] = mockFetch((c) => {
      if (c.url === '/api/v1/namespaces/team-a/quota') return { json: quota };
      if (c.method === 'POST' && c.url.endsWith('?dryRun=true'))
        return { json: { dryRun: true, mpijob: {}, yaml: 'kind: MPIJob\nmetadata:\n  name: pi\n', warnings: ['ResourceQuota team-a/gpus is nearly used up'] } };
      if (c.method === 'POST') return { status: 201, json: { dryRun: false, mpijob: {}, yaml: '', warnings: [] } };
      return undefined;
    });
    render(<CreateWizard namespace="team-a" />);
    const user = userEvent.setup();
    // Name is required before the first step lets one go on.
    expect(screen.getByRole('button', { name: 'Next' })).toBeDisabled();
    // Every field has help.
    expect(screen.getByRole('button', { name: 'More info for Name' })).toBeInTheDocument();
    await fillAndReview(user);

    expect(await screen.findByText(/name: pi/)).toBeInTheDocument();
    expect(screen.getByText('ResourceQuota team-a/gpus is nearly used up')).toBeInTheDocument();
    const dry = calls.filter((c) => c.url.endsWith('?dryRun=true')).pop()!;
    expect(dry.body).toMatchObject({ form: { name: 'pi', image: 'mpioperator/mpi-pi:openmpi', command: 'mpirun -n 2 /home/mpiuser/pi', workers: 2, gpusPerWorker: 1 } });

    await user.click(screen.getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'POST' && c.url === '/api/v1/namespaces/team-a/mpijobs')).toBe(true));
    expect(window.location.pathname).toBe('/jobs/team-a/pi');
  });

  it('shows the quota message of the dry run before submission', async () => {
    mockFetch((c) => {
      if (c.url === '/api/v1/namespaces/team-a/quota') return { json: quota };
      if (c.method === 'POST')
        return {
          status: 403,
          json: {
            error:
              'admission webhook "mpijobs.validation.mpijob.io" denied the request: MPIJob pi can never run: it requests nvidia.com/gpu=16 over 17 pod(s), more than its quota allows.\nResourceQuota team-a/gpus:\n  requests.nvidia.com/gpu: requested 16, used 2, available 6, limit 8',
            reason: 'Forbidden',
          },
        };
      return undefined;
    });
    render(<CreateWizard namespace="team-a" />);
    const user = userEvent.setup();
    await fillAndReview(user);
    expect(await screen.findByText(/Over quota: the job can never run/)).toBeInTheDocument();
    expect(screen.getByText(/requests.nvidia.com\/gpu: requested 16, used 2, available 6, limit 8/)).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Create' })).toBeDisabled();
  });

  it('shows the server’s field errors inline', async () => {
    mockFetch((c) => {
      if (c.method === 'POST')
        return {
          status: 422,
          json: { error: 'the job is not valid', reason: 'Invalid', fields: [{ field: 'memory', message: '"lots" is not a quantity: write it like 8Gi or 512Mi' }] },
        };
      return { status: 403, json: { error: 'forbidden', reason: 'Forbidden' } };
    });
    render(<CreateWizard namespace="team-a" />);
    const user = userEvent.setup();
    await fillAndReview(user);
    await user.click(screen.getByRole('button', { name: 'Resources' }));
    expect(await screen.findByText(/write it like 8Gi or 512Mi/)).toBeInTheDocument();
  });

  it('parses the advanced step', () => {
    const f = toForm({
      namespace: 'team-a',
      form: { name: 'pi', image: 'x', workers: 1 },
      env: 'NCCL_DEBUG=INFO\nA=b=c\n',
      nodeSelector: 'gpu=a100',
      volumes: 'data:/data:datasets\nscratch:/tmp/s',
    });
    expect(f.env).toEqual([
      { name: 'NCCL_DEBUG', value: 'INFO' },
      { name: 'A', value: 'b=c' },
    ]);
    expect(f.nodeSelector).toEqual({ gpu: 'a100' });
    expect(f.volumes).toEqual([
      { name: 'data', mountPath: '/data', claimName: 'datasets' },
      { name: 'scratch', mountPath: '/tmp/s', claimName: undefined },
    ]);
  });
});
