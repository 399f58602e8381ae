import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import '@patternfly/react-core/dist/styles/base.css';
import '@patternfly/react-log-viewer/dist/css/log-viewer.css';
import { api, awaitPrefetchedTrainingJobs, prefetchTrainingJobs } from './api';
import { App } from './App';
import { parseRoute } from './router';
import type { Identity } from './types';

// firstAnswers waits, briefly, for the answers public/prefetch.js asked for
// while the application loaded (who-am-I and a returning user's list): they
// are usually in by now, and with them the first render shows the page
// itself rather than a spinner first. Without them App signs in as usual.
async function firstAnswers(): Promise<Identity | undefined> {
  if (!window.__mpijobConsolePrefetch) return undefined;
  const saved = localStorage.getItem('mpijob-console-namespace');
  if (saved !== null && parseRoute(window.location.pathname).page === 'jobs') prefetchTrainingJobs(saved);
  const both = Promise.all([api.whoami(), awaitPrefetchedTrainingJobs()]).then(([id]) => id);
  const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1500));
  return Promise.race([both.catch(() => undefined), timeout]);
}

void firstAnswers().then((initial) =>
  createRoot(document.getElementById('root')!).render(
    <StrictMode>
      <App initial={initial} />
    </StrictMode>,
  ),
);
