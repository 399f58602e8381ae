// A minimal router over the History API: the console has four pages and
// needs no routing library.
import { useEffect, useState } from 'react';

export function navigate(path: string): void {
  window.history.pushState(null, '', path);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

export function usePath(): string {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const on = () => setPath(window.location.pathname);
    window.addEventListener('popstate', on);
    return () => window.removeEventListener('popstate', on);
  }, []);
  return path;
}

export type Route =
  | { page: 'jobs' }
  | { page: 'job'; namespace: string; name: string; tab?: string }
  | { page: 'create' }
  | { page: 'admin' };

export function parseRoute(path: string): Route {
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'jobs' && parts.length >= 3) return { page: 'job', namespace: parts[1], name: parts[2], tab: parts[3] };
  if (parts[0] === 'create') return { page: 'create' };
  if (parts[0] === 'admin') return { page: 'admin' };
  return { page: 'jobs' };
}

export const jobURL = (ns: string, name: string) => `/jobs/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;
