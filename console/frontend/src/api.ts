// A small client of the console's REST API. Every call carries the
// caller's token when the user pasted one (local use); behind an
// authenticating proxy the proxy adds it and none is stored here.
import type {
  ApiErrorBody,
  ClusterGPU,
  ClusterQuota,
  ConsoleConfig,
  CreateResponse,
  EventView,
  Identity,
  JobDetails,
  JobForm,
  JobMetrics,
  NamespaceList,
  PodView,
  QuotaView,
  TrainingJobList,
} from './types';

const tokenKey = 'mpijob-console-token';

export function getToken(): string | null {
  return sessionStorage.getItem(tokenKey);
}

export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(tokenKey, token);
  else sessionStorage.removeItem(tokenKey);
}

export class ApiError extends Error {
  status: number;
  body: ApiErrorBody;
  constructor(status: number, body: ApiErrorBody) {
    super(body.error);
    this.status = status;
    this.body = body;
  }
}

function headers(extra?: Record<string, string>): Record<string, string> {
  const h: Record<string, string> = { Accept: 'application/json', ...extra };
  const token = getToken();
  if (token) h.Authorization = `Bearer ${token}`;
  return h;
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const resp = await fetch(path, {
    method,
    headers: headers(body === undefined ? undefined : { 'Content-Type': 'application/json' }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return decode<T>(resp);
}

async function decode<T>(resp: Response): Promise<T> {
  const text = await resp.text();
  let data: unknown = undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = { error: text || resp.statusText, reason: 'Unknown' };
  }
  if (!resp.ok) {
    const b = (data ?? { error: resp.statusText, reason: 'Unknown' }) as ApiErrorBody;
    throw new ApiError(resp.status, b);
  }
  return data as T;
}

const enc = encodeURIComponent;

// JobQuery is what the list page asks the console for: one page of the
// jobs that match, sorted (docs/reference/console-api.md). The console
// filters, sorts and pages, so the browser gets one page however many jobs
// there are.
export interface JobQuery {
  type?: string;
  status?: string;
  // since is an RFC 3339 time: jobs created at or after it.
  since?: string;
  search?: string;
  // sort is created, name, status or gpus, with - first for descending.
  sort?: string;
  page: number;
  perPage: number;
}

// FIRST_PAGE is the list page's first view, which public/prefetch.js asks
// for (as ?page=1&perPage=20) while the application loads.
export const FIRST_PAGE: JobQuery = { page: 1, perPage: 20 };

const queryKeys = ['type', 'status', 'since', 'search', 'sort', 'page', 'perPage'] as const;

const trainingJobsBase = (namespace: string | null) =>
  namespace ? `/api/v1/namespaces/${enc(namespace)}/trainingjobs` : '/api/v1/trainingjobs';

export function trainingJobsPath(namespace: string | null, query: JobQuery = FIRST_PAGE): string {
  const q = new URLSearchParams();
  for (const k of queryKeys) {
    const v = query[k];
    if (v !== undefined && v !== '') q.set(k, String(v));
  }
  return `${trainingJobsBase(namespace)}?${q.toString()}`;
}

// What public/prefetch.js asked for while the application loaded.
interface EarlyRequests {
  at: number;
  token: string | null;
  namespace: string | null;
  whoami: Promise<Response>;
  list: Promise<Response> | null;
}

declare global {
  interface Window {
    __mpijobConsolePrefetch?: EarlyRequests;
  }
}

// early takes over one of prefetch.js's answers: once, while fresh, and
// only when it was asked with the token in use now.
function early<T>(key: 'whoami' | 'list', namespace?: string | null): Promise<T> | null {
  const e = window.__mpijobConsolePrefetch;
  const r = e?.[key];
  if (!e || !r || Date.now() - e.at > 5000 || e.token !== getToken()) return null;
  if (key === 'list' && (e.namespace || null) !== namespace) return null;
  e[key] = null as never;
  return r.then((resp) => decode<T>(resp));
}

// A list asked for before sign-in finished (the namespace saved by the
// last visit), so that the list and who-am-I travel together. It is used
// once, while fresh; a failed prefetch is asked again.
let prefetched: { namespace: string | null; at: number; list: Promise<TrainingJobList> } | null = null;

// prefetchTrainingJobs asks for the first page of a namespace's list (""
// for all namespaces).
export function prefetchTrainingJobs(saved: string): void {
  const namespace = saved || null;
  const list = early<TrainingJobList>('list', namespace) ?? request<TrainingJobList>('GET', trainingJobsPath(namespace));
  list.catch(() => undefined);
  prefetched = { namespace, at: Date.now(), list };
}
// The prefetched list once it has arrived, kept for the list page's first
// render (see awaitPrefetchedTrainingJobs).
let arrived: { namespace: string | null; list: TrainingJobList } | null = null;

// awaitPrefetchedTrainingJobs waits for the prefetched list, if any, so that
// sign-in can show the list page with its rows at once instead of a spinner
// first. A failed prefetch is left for the page to ask again.
export async function awaitPrefetchedTrainingJobs(): Promise<void> {
  const p = prefetched;
  if (!p) return;
  try {
    const list = await p.list;
    if (prefetched === p) {
      prefetched = null;
      arrived = { namespace: p.namespace, list };
    }
  } catch {
    // The page asks again.
  }
}

// takeArrivedTrainingJobs hands the arrived list to the page, once.
export function takeArrivedTrainingJobs(namespace: string | null): TrainingJobList | null {
  const a = arrived;
  if (!a || a.namespace !== namespace) return null;
  arrived = null;
  return a.list;
}
const jobPath = (ns: string, name: string) => `/api/v1/namespaces/${enc(ns)}/mpijobs/${enc(name)}`;

export const api = {
  config: () => request<ConsoleConfig>('GET', '/api/v1/config'),
  whoami: () => {
    const fresh = () => request<Identity>('GET', '/api/v1/whoami');
    return early<Identity>('whoami')?.catch(fresh) ?? fresh();
  },
  namespaces: () => request<NamespaceList>('GET', '/api/v1/namespaces'),
  trainingJobs: (namespace: string | null, query: JobQuery = FIRST_PAGE) => {
    const path = trainingJobsPath(namespace, query);
    const fresh = () => request<TrainingJobList>('GET', path);
    const p = prefetched;
    if (p && path === trainingJobsPath(namespace) && p.namespace === namespace && Date.now() - p.at < 5000) {
      prefetched = null;
      return p.list.catch(fresh);
    }
    return fresh();
  },
  job: (ns: string, name: string) => request<JobDetails>('GET', jobPath(ns, name)),
  workers: (ns: string, name: string) => request<{ items: PodView[] }>('GET', `${jobPath(ns, name)}/workers`),
  events: (ns: string, name: string) => request<{ items: EventView[] }>('GET', `${jobPath(ns, name)}/events`),
  create: (ns: string, form: JobForm, dryRun: boolean) =>
    request<CreateResponse>('POST', `/api/v1/namespaces/${enc(ns)}/mpijobs${dryRun ? '?dryRun=true' : ''}`, { form }),
  remove: (ns: string, name: string) => request<{ deleted: boolean }>('DELETE', jobPath(ns, name)),
  suspend: (ns: string, name: string) => request<unknown>('POST', `${jobPath(ns, name)}/suspend`),
  resume: (ns: string, name: string) => request<unknown>('POST', `${jobPath(ns, name)}/resume`),
  quota: (ns: string) => request<QuotaView>('GET', `/api/v1/namespaces/${enc(ns)}/quota`),
  clusterQuota: () => request<ClusterQuota>('GET', '/api/v1/quota'),
  // metrics of a job over range (a Go duration such as 6h); the job's
  // lifetime, capped at 24h, without one.
  metrics: (ns: string, name: string, range?: string) =>
    request<JobMetrics>('GET', `${jobPath(ns, name)}/metrics${range ? `?range=${enc(range)}` : ''}`),
  gpuUtilization: () => request<ClusterGPU>('GET', '/api/v1/admin/gpu-utilization'),
  logsURL: (ns: string, name: string, selector: LogSelector, opts: { follow?: boolean; download?: boolean } = {}) => {
    const q = new URLSearchParams({ role: selector.role });
    if (selector.role === 'worker') q.set('index', String(selector.index ?? 0));
    if (opts.follow) q.set('follow', 'true');
    if (opts.download) q.set('download', 'true');
    return `${jobPath(ns, name)}/logs?${q.toString()}`;
  },
  logs: async (ns: string, name: string, selector: LogSelector): Promise<string> => {
    const resp = await fetch(api.logsURL(ns, name, selector), { headers: headers() });
    const text = await resp.text();
    if (!resp.ok) {
      let body: ApiErrorBody = { error: text, reason: 'Unknown' };
      try {
        body = JSON.parse(text);
      } catch {
        /* plain text error */
      }
      throw new ApiError(resp.status, body);
    }
    return text;
  },
};

export interface LogSelector {
  role: 'launcher' | 'worker' | 'all';
  index?: number;
}

// streamEvents reads server-sent events with fetch (EventSource cannot
// send the Authorization header) and calls onEvent for each until the
// stream ends, an "end" event comes, or the signal aborts; an "error"
// event, or an answer other than 200, throws an ApiError.
async function streamEvents(
  url: string,
  onEvent: (event: string, data: string[]) => void,
  signal: AbortSignal,
): Promise<void> {
  const resp = await fetch(url, { headers: headers({ Accept: 'text/event-stream' }), signal });
  if (!resp.ok || !resp.body) {
    let body: ApiErrorBody = { error: resp.statusText, reason: 'Unknown' };
    try {
      body = await resp.json();
    } catch {
      /* not JSON */
    }
    throw new ApiError(resp.status, body);
  }
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let sep: number;
    while ((sep = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, sep);
      buf = buf.slice(sep + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (event === 'end') return;
      if (event === 'error') {
        const body = JSON.parse(data.join('\n')) as ApiErrorBody;
        throw new ApiError(body.reason === 'Forbidden' ? 403 : 500, body);
      }
      onEvent(event, data);
    }
  }
}

// followLogs calls onLine for each line of a followed log.
export function followLogs(url: string, onLine: (line: string) => void, signal: AbortSignal): Promise<void> {
  return streamEvents(url, (_event, data) => data.forEach(onLine), signal);
}

// watchTrainingJobs calls onChange each time the console says jobs of the
// namespace (every namespace for null) changed, until the signal aborts;
// it throws when the console has no live updates (503) or the stream
// fails, and the list then refreshes itself on a timer.
export function watchTrainingJobs(namespace: string | null, onChange: () => void, signal: AbortSignal): Promise<void> {
  return streamEvents(
    `${trainingJobsBase(namespace)}/watch`,
    (event) => {
      if (event === 'changed') onChange();
    },
    signal,
  );
}

// fieldErrors maps a create error to form fields for inline validation.
export function fieldErrors(err: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (err instanceof ApiError) {
    for (const f of err.body.fields ?? []) {
      const key = f.field.replace(/\[\d+\].*$/, '');
      out[key] = out[key] ? `${out[key]}; ${f.message}` : f.message;
    }
  }
  return out;
}
