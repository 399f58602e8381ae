import { lazy, Suspense, useCallback, useEffect, useRef, useState } from 'react';
import {
  Button,
  Masthead,
  MastheadBrand,
  MastheadContent,
  MastheadMain,
  Nav,
  NavItem,
  NavList,
  Page,
  PageSection,
  Spinner,
  TextInput,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import { api, ApiError, awaitPrefetchedTrainingJobs, getToken, prefetchTrainingJobs, setToken } from './api';
import { ErrorAlert } from './components/ErrorAlert';
import { TokenLogin } from './components/TokenLogin';
import { JobsList } from './pages/JobsList';

// The list is the landing page and comes with the application; the other
// pages (the log viewer, the wizard, YAML) load when first opened.
const AdminView = lazy(() => import('./pages/AdminView').then((m) => ({ default: m.AdminView })));
const CreateWizard = lazy(() => import('./pages/CreateWizard').then((m) => ({ default: m.CreateWizard })));
const JobDetails = lazy(() => import('./pages/JobDetails').then((m) => ({ default: m.JobDetails })));
import { navigate, parseRoute, usePath } from './router';
import type { ConsoleConfig, Identity } from './types';

const nsKey = 'mpijob-console-namespace';

// defaultNamespace guesses the user's namespace: the last one used (""
// for all namespaces), or a ServiceAccount's own.
function defaultNamespace(id: Identity): string {
  const saved = localStorage.getItem(nsKey);
  if (saved !== null) return saved;
  const m = /^system:serviceaccount:([^:]+):/.exec(id.username);
  return m ? m[1] : 'default';
}

export interface AppProps {
  // initial is the caller's identity when main.tsx already has it (the
  // prefetched who-am-I); App then skips its own sign-in call.
  initial?: Identity;
}

export function App({ initial }: AppProps = {}) {
  const path = usePath();
  const route = parseRoute(path);
  const [id, setId] = useState<Identity | null>(initial ?? null);
  const [authErr, setAuthErr] = useState<unknown>(null);
  const [config, setConfig] = useState<ConsoleConfig | null>(null);
  const [namespace, setNamespace] = useState(() => (initial ? defaultNamespace(initial) : ''));
  const signedIn = useRef(initial !== undefined);

  const signIn = useCallback(() => {
    setAuthErr(null);
    // Sign-in waits for a prefetched list too, so the list page's first
    // render has its rows.
    Promise.all([api.whoami(), awaitPrefetchedTrainingJobs()])
      .then(([i]) => {
        setId(i);
        setNamespace(defaultNamespace(i));
      })
      .catch(setAuthErr);
  }, []);
  useEffect(() => {
    // A returning user's list is asked for with who-am-I, not after it.
    api.config().then(setConfig).catch(() => setConfig(null));
    if (signedIn.current) return;
    const saved = localStorage.getItem(nsKey);
    if (saved !== null && parseRoute(window.location.pathname).page === 'jobs') prefetchTrainingJobs(saved);
    signIn();
  }, [signIn]);

  const chooseNamespace = (ns: string) => {
    setNamespace(ns);
    localStorage.setItem(nsKey, ns);
  };

  const nav = (to: string, label: string, active: boolean) => (
    <NavItem
      key={to}
      isActive={active}
      to={to}
      onClick={(e) => {
        e.preventDefault();
        navigate(to);
      }}
    >
      {label}
    </NavItem>
  );

  const masthead = (
    <Masthead>
      <MastheadMain>
        <MastheadBrand>
          <strong>MPIJob console</strong>
        </MastheadBrand>
      </MastheadMain>
      <MastheadContent>
        <Toolbar isFullHeight>
          <ToolbarContent>
            <ToolbarItem>
              <Nav variant="horizontal" aria-label="Main">
                <NavList>
                  {nav('/', 'Training jobs', route.page === 'jobs' || route.page === 'job')}
                  {nav('/create', 'Create', route.page === 'create')}
                  {id?.admin && nav('/admin', 'Admin', route.page === 'admin')}
                </NavList>
              </Nav>
            </ToolbarItem>
            {id && (
              <ToolbarItem>
                <TextInput
                  aria-label="Namespace"
                  value={namespace}
                  onChange={(_e, v) => chooseNamespace(v.trim())}
                  placeholder="namespace"
                />
              </ToolbarItem>
            )}
            {id && <ToolbarItem>{id.username}</ToolbarItem>}
            {getToken() && (
              <ToolbarItem>
                <Button
                  variant="link"
                  onClick={() => {
                    setToken(null);
                    setId(null);
                    signIn();
                  }}
                >
                  Sign out
                </Button>
              </ToolbarItem>
            )}
          </ToolbarContent>
        </Toolbar>
      </MastheadContent>
    </Masthead>
  );

  let body: React.ReactNode;
  if (authErr instanceof ApiError && authErr.status === 401) {
    body = <TokenLogin onDone={signIn} message={getToken() ? 'The token was not accepted.' : undefined} />;
  } else if (authErr !== null) {
    body = (
      <PageSection>
        <ErrorAlert err={authErr} />
      </PageSection>
    );
  } else if (!id) {
    body = (
      <PageSection>
        <Spinner aria-label="Signing in" />
      </PageSection>
    );
  } else if (route.page === 'job') {
    body = <JobDetails namespace={route.namespace} name={route.name} config={config} />;
  } else if (route.page === 'create') {
    body = <CreateWizard key={namespace} namespace={namespace} config={config} />;
  } else if (route.page === 'admin') {
    body = id.admin ? <AdminView /> : <ErrorAlert err={new Error('The admin view needs the right to list MPIJobs in all namespaces.')} />;
  } else {
    body = <JobsList namespace={namespace || null} />;
  }
  return (
    <Page masthead={masthead} isContentFilled>
      <Suspense
        fallback={
          <PageSection>
            <Spinner aria-label="Loading the page" />
          </PageSection>
        }
      >
        {body}
      </Suspense>
    </Page>
  );
}
