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

// serve answers the list like the console: filtered, sorted by name when
// asked, one page, with the total.
function serve(items: JobSummary[], extra: Record<string, unknown> = {}) {
  return (url: string) => {
    const q = new URL(url, 'http://console').searchParams;
    let rows = items.filter(
      (j) =>
        (!q.get('type') || j.type === q.get('type')) &&
        (!q.get('status') || j.status === q.get('status')) &&
        (!q.get('since') || Date.parse(j.created) >= Date.parse(q.get('since')!)) &&
        (!q.get('search') || j.name.includes(q.get('search')!)),
    );
    if (q.get('sort') === 'name') rows = [...rows].sort((a, b) => a.name.localeCompare(b.name));
    const page = Number(q.get('page') ?? 1);
    const perPage = Number(q.get('perPage') ?? 0);
    const shown = perPage ? rows.slice((page - 1) * perPage, page * perPage) : rows;
    return { json: { types: ['MPIJob', 'PyTorchJob'], items: shown, total: rows.length, page, perPage, live: false, ...extra } };
  };
}

describe('JobsList', () => {
  it('shows a queued job’s place in its LocalQueue', async () => {
    mockFetch((c) =>
      c.url.startsWith('/api/v1/namespaces/team-a/trainingjobs?')
        ? serve([{ ...job('waiting', 'Queued'), queue: 'default', queuePosition: 3 }, { ...job('nopos', 'Queued'), queue: 'small' }])(c.url)
        : undefined,
    );
    render(<JobsList namespace="team-a" pollMs={60000} />);
    expect(await screen.findByText('default (#3)')).toBeInTheDocument();
    expect(screen.getByText('small')).toBeInTheDocument();
  });

  it('asks the console for one page, filtered and sorted', async () => {
    const many = Array.from({ length: 45 }, (_, i) => job(`job-${String(i).padStart(2, '0')}`, 'Running'));
    const items = [job('pi', 'Running'), job('bad', 'Failed'), job('bert', 'Succeeded', 'PyTorchJob', old), ...many];
    const calls = mockFetch((c) => (c.url.startsWith('/api/v1/namespaces/team-a/trainingjobs?') ? serve(items)(c.url) : undefined));
    render(<JobsList namespace="team-a" pollMs={60000} />);
    const table = await screen.findByRole('grid', { name: 'Training jobs' }).catch(() => screen.findByRole('table', { name: 'Training jobs' }));
    expect(calls[0].url).toBe('/api/v1/namespaces/team-a/trainingjobs?page=1&perPage=20');
    expect(within(table).getByRole('link', { name: 'pi' })).toHaveAttribute('href', '/jobs/team-a/pi');
    expect(within(table).getByText(/OOMKilled/)).toBeInTheDocument();
    expect(within(table).getAllByRole('row')).toHaveLength(21); // the header and one page
    expect(document.querySelector('.pf-v6-c-pagination')?.textContent).toMatch(/of\s*48/);

    const user = userEvent.setup();
    await user.selectOptions(screen.getByLabelText('Job type'), 'PyTorchJob');
    await waitFor(() => expect(screen.queryByText('pi')).not.toBeInTheDocument());
    expect(screen.getByText('bert')).toBeInTheDocument();
    expect(calls.at(-1)!.url).toBe('/api/v1/namespaces/team-a/trainingjobs?type=PyTorchJob&page=1&perPage=20');

    await user.selectOptions(screen.getByLabelText('Job type'), 'all');
    await user.selectOptions(screen.getByLabelText('Status'), 'Failed');
    await waitFor(() => expect(screen.queryByText('bert')).not.toBeInTheDocument());
    expect(screen.getByText('bad')).toBeInTheDocument();

    await user.selectOptions(screen.getByLabelText('Status'), 'all');
    await user.selectOptions(screen.getByLabelText('Created'), '24h');
    await waitFor(() => expect(decodeURIComponent(calls.at(-1)!.url)).toMatch(/since=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ&page=1/));
    await waitFor(() => expect(screen.queryByText('bert')).not.toBeInTheDocument());
    await user.selectOptions(screen.getByLabelText('Created'), 'any');

    await user.type(screen.getByPlaceholderText('Search by name'), 'ber');
    await waitFor(() => expect(screen.queryByText('bad')).not.toBeInTheDocument());
    expect(screen.getByText('bert')).toBeInTheDocument();
    expect(calls.at(-1)!.url).toBe('/api/v1/namespaces/team-a/trainingjobs?search=ber&page=1&perPage=20');

    await user.clear(screen.getByPlaceholderText('Search by name'));
    await user.click(screen.getByRole('button', { name: 'Name' }));
    await waitFor(() => expect(calls.at(-1)!.url).toBe('/api/v1/namespaces/team-a/trainingjobs?sort=name&page=1&perPage=20'));
    await waitFor(() => expect(within(screen.getByRole('grid', { name: 'Training jobs' })).getAllByRole('link')[0]).toHaveTextContent('bad'));
  });

  it('updates live by polling when the console cannot stream', async () => {
    let n = 0;
    mockFetch(() => {
      n++;
      return serve([job('pi', n === 1 ? 'Running' : 'Succeeded')])('/api/v1/trainingjobs?page=1&perPage=20');
    });
    render(<JobsList namespace={null} pollMs={50} />);
    expect(await screen.findByText('Running')).toBeInTheDocument();
    await waitFor(() => expect(screen.getByText('Succeeded')).toBeInTheDocument());
    expect(screen.getByText('Namespace')).toBeInTheDocument();
  });

  it('asks again when the console’s stream says jobs changed', async () => {
    let lists = 0;
    const calls = mockFetch((c) => {
      if (c.url === '/api/v1/namespaces/team-a/trainingjobs/watch') {
        return { text: 'event: ready\ndata: {}\n\nevent: changed\ndata: {}\n\n' };
      }
      lists++;
      return serve([job('pi', lists === 1 ? 'Running' : 'Succeeded')], { live: true, types: ['MPIJob'] })(c.url);
    });
    render(<JobsList namespace="team-a" pollMs={60000} />);
    await waitFor(() => expect(screen.getByText('Succeeded')).toBeInTheDocument());
    expect(calls.some((c) => c.url.endsWith('/trainingjobs/watch'))).toBe(true);
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
