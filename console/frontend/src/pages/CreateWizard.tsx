import { useEffect, useState } from 'react';
import {
  Alert,
  CodeBlock,
  CodeBlockCode,
  Content,
  Form,
  FormGroup,
  FormHelperText,
  FormSelect,
  FormSelectOption,
  HelperText,
  HelperTextItem,
  NumberInput,
  PageSection,
  Spinner,
  TextArea,
  TextInput,
  Title,
  Wizard,
  WizardStep,
} from '@patternfly/react-core';
import { api, ApiError, fieldErrors } from '../api';
import { ErrorAlert } from '../components/ErrorAlert';
import { FieldHelp } from '../components/FieldHelp';
import { jobURL, navigate } from '../router';
import { checkForm } from '../validate';
import type { ConsoleConfig, CreateResponse, JobForm, QuotaView } from '../types';

// The text areas of the advanced step, parsed into the form.
interface Draft {
  namespace: string;
  form: JobForm;
  env: string; // KEY=VALUE per line
  nodeSelector: string; // key=value per line
  volumes: string; // name:/mount/path[:claim] per line
}

function lines(s: string): string[] {
  return s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

export function toForm(d: Draft): JobForm {
  const f: JobForm = { ...d.form };
  f.env = lines(d.env).map((l) => {
    const i = l.indexOf('=');
    return i < 0 ? { name: l, value: '' } : { name: l.slice(0, i), value: l.slice(i + 1) };
  });
  const sel: Record<string, string> = {};
  for (const l of lines(d.nodeSelector)) {
    const i = l.indexOf('=');
    sel[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
  }
  f.nodeSelector = Object.keys(sel).length ? sel : undefined;
  f.volumes = lines(d.volumes).map((l) => {
    const [name, mountPath, claimName] = l.split(':');
    return { name, mountPath: mountPath ?? '', claimName: claimName || undefined };
  });
  return f;
}

// Local checks that need no server (src/validate.ts, the rules the
// contract fixtures pin); the dry run checks the rest.
function localErrors(d: Draft, step: number): Record<string, string> {
  const all = checkForm(d.form);
  const e: Record<string, string> = {};
  if (step >= 1) {
    if (!d.namespace) e.namespace = 'Required: the namespace (project) to run in.';
    if (all.name) e.name = all.name;
  }
  if (step >= 2 && all.image) e.image = all.image;
  if (step >= 3) {
    for (const f of ['workers', 'gpusPerWorker']) if (all[f]) e[f] = all[f];
    // The wizard has no slots input: slots follow the GPUs.
    if (all.slotsPerWorker && !e.gpusPerWorker) e.gpusPerWorker = all.slotsPerWorker;
  }
  return e;
}

export interface CreateWizardProps {
  namespace: string;
  config?: ConsoleConfig | null;
}

export function CreateWizard({ namespace, config }: CreateWizardProps) {
  const [d, setD] = useState<Draft>({
    namespace,
    form: { name: '', image: '', command: '', workers: 2, gpusPerWorker: 1, cpu: '', memory: '', mpiImplementation: 'OpenMPI', queue: '' },
    env: '',
    nodeSelector: '',
    volumes: '',
  });
  const [step, setStep] = useState(1);
  const [preview, setPreview] = useState<CreateResponse | null>(null);
  const [serverErr, setServerErr] = useState<unknown>(null);
  const [checking, setChecking] = useState(false);
  const [quota, setQuota] = useState<QuotaView | null>(null);

  useEffect(() => {
    if (!d.namespace) return;
    api
      .quota(d.namespace)
      .then(setQuota)
      .catch(() => setQuota(null));
  }, [d.namespace]);

  const setForm = (patch: Partial<JobForm>) => setD((x) => ({ ...x, form: { ...x.form, ...patch } }));
  // Fields of the steps behind are checked; the current step's only once
  // they hold something, so that an empty form is not all red.
  const local = localErrors(d, step - 1);
  if (d.form.name && !local.name) {
    const n = localErrors(d, 1).name;
    if (n) local.name = n;
  }
  const server = fieldErrors(serverErr);
  const errs: Record<string, string> = { ...server, ...local };

  // dryRun asks the apiserver (and the webhooks) about the job as it is.
  const dryRun = async () => {
    if (Object.keys(localErrors(d, 3)).length) return;
    setChecking(true);
    try {
      setPreview(await api.create(d.namespace, toForm(d), true));
      setServerErr(null);
    } catch (e) {
      setPreview(null);
      setServerErr(e);
    } finally {
      setChecking(false);
    }
  };

  const submit = async () => {
    try {
      await api.create(d.namespace, toForm(d), false);
      navigate(jobURL(d.namespace, d.form.name));
    } catch (e) {
      setServerErr(e);
    }
  };

  const field = (
    id: keyof JobForm | 'namespace' | 'env' | 'nodeSelector' | 'volumes',
    label: string,
    help: React.ReactNode,
    control: React.ReactNode,
    opts: { required?: boolean; hint?: string } = {},
  ) => (
    <FormGroup label={label} isRequired={opts.required} fieldId={`f-${id}`} labelHelp={<FieldHelp field={label}>{help}</FieldHelp>}>
      {control}
      <FormHelperText>
        <HelperText>
          {errs[id] ? (
            <HelperTextItem variant="error">{errs[id]}</HelperTextItem>
          ) : opts.hint ? (
            <HelperTextItem>{opts.hint}</HelperTextItem>
          ) : null}
        </HelperText>
      </FormHelperText>
    </FormGroup>
  );
  const v = (id: string) => (errs[id] ? ('error' as const) : ('default' as const));
  const quickstart = config?.quickstartURL;
  const more = quickstart ? (
    <>
      {' '}
      See the{' '}
      <a href={quickstart} target="_blank" rel="noreferrer">
        quickstart
      </a>
      .
    </>
  ) : null;
  const stepOK = (n: number) => Object.keys(localErrors(d, n)).length === 0;

  return (
    <PageSection>
      <Title headingLevel="h1">Create an MPIJob</Title>
      <Content component="p">
        Five steps, no YAML. Each step is checked by the cluster (a server-side dry run through the admission webhooks) when you
        move on.{more}
      </Content>
      <Wizard
        height={640}
        onClose={() => navigate('/')}
        onStepChange={(_e, cur) => {
          setStep(Number(cur.index));
          void dryRun();
        }}
        onSave={submit}
      >
        <WizardStep name="Basic information" id="basic" footer={{ isNextDisabled: !stepOK(1) }}>
          <Form>
            {field(
              'namespace',
              'Namespace',
              <>The namespace (project) the job runs in. You need edit rights there.{more}</>,
              <TextInput id="f-namespace" value={d.namespace} validated={v('namespace')} onChange={(_e, x) => setD({ ...d, namespace: x.trim() })} />,
              { required: true },
            )}
            {field(
              'name',
              'Name',
              <>Lower-case letters, digits and "-"; the launcher and workers are named after it (pi-launcher, pi-worker-0).</>,
              <TextInput id="f-name" value={d.form.name} validated={v('name')} onChange={(_e, x) => setForm({ name: x.trim() })} />,
              { required: true },
            )}
            {field(
              'queue',
              'Queue',
              <>The Kueue LocalQueue that admits the job when its quota allows; empty to run without Kueue.</>,
              quota?.localQueues.length ? (
                <FormSelect id="f-queue" value={d.form.queue} validated={v('queue')} onChange={(_e, x) => setForm({ queue: x })}>
                  <FormSelectOption value="" label="No queue" />
                  {quota.localQueues.map((q) => (
                    <FormSelectOption key={q.name} value={q.name} label={`${q.name} (ClusterQueue ${q.clusterQueue})`} />
                  ))}
                </FormSelect>
              ) : (
                <TextInput id="f-queue" value={d.form.queue} validated={v('queue')} onChange={(_e, x) => setForm({ queue: x.trim() })} />
              ),
            )}
          </Form>
        </WizardStep>
        <WizardStep name="Container" id="container" footer={{ isNextDisabled: !stepOK(2) }}>
          <Form>
            {field(
              'image',
              'Image',
              <>The container image with your training code and an MPI installation, e.g. mpioperator/mpi-pi:openmpi.</>,
              <TextInput id="f-image" value={d.form.image} validated={v('image')} onChange={(_e, x) => setForm({ image: x })} />,
              { required: true },
            )}
            {field(
              'command',
              'Launcher command',
              <>What the launcher runs, e.g. mpirun -n 8 python train.py. Quote arguments with spaces.</>,
              <TextInput id="f-command" value={d.form.command} validated={v('command')} onChange={(_e, x) => setForm({ command: x })} />,
              { hint: 'Empty runs the image’s entrypoint.' },
            )}
            {field(
              'mpiImplementation',
              'MPI implementation',
              <>The MPI in your image: OpenMPI, Intel MPI or MPICH. It decides the hostfile format and launcher environment.</>,
              <FormSelect id="f-mpiImplementation" value={d.form.mpiImplementation} onChange={(_e, x) => setForm({ mpiImplementation: x })}>
                {['OpenMPI', 'Intel', 'MPICH'].map((m) => (
                  <FormSelectOption key={m} value={m} label={m} />
                ))}
              </FormSelect>,
            )}
            {field(
              'env',
              'Environment',
              <>Variables for the launcher and the workers, one KEY=VALUE per line, e.g. NCCL_DEBUG=INFO.</>,
              <TextArea id="f-env" value={d.env} validated={v('env')} onChange={(_e, x) => setD({ ...d, env: x })} resizeOrientation="vertical" />,
            )}
          </Form>
        </WizardStep>
        <WizardStep name="Resources" id="resources" footer={{ isNextDisabled: !stepOK(3) }}>
          <Form>
            {field(
              'workers',
              'Workers',
              <>How many worker pods run the MPI ranks. More workers need more quota.</>,
              <NumberInput
                id="f-workers"
                value={d.form.workers}
                min={1}
                validated={v('workers')}
                onMinus={() => setForm({ workers: Math.max(1, d.form.workers - 1) })}
                onPlus={() => setForm({ workers: d.form.workers + 1 })}
                onChange={(e) => setForm({ workers: Number((e.target as HTMLInputElement).value) || 0 })}
                inputAriaLabel="Workers"
              />,
              { required: true },
            )}
            {field(
              'gpusPerWorker',
              'GPUs per worker',
              <>The nvidia.com/gpu limit of each worker; the job asks for workers × GPUs in all.</>,
              <NumberInput
                id="f-gpusPerWorker"
                value={d.form.gpusPerWorker ?? 0}
                min={0}
                validated={v('gpusPerWorker')}
                onMinus={() => setForm({ gpusPerWorker: Math.max(0, (d.form.gpusPerWorker ?? 0) - 1) })}
                onPlus={() => setForm({ gpusPerWorker: (d.form.gpusPerWorker ?? 0) + 1 })}
                onChange={(e) => setForm({ gpusPerWorker: Number((e.target as HTMLInputElement).value) || 0 })}
                inputAriaLabel="GPUs per worker"
              />,
            )}
            {field(
              'cpu',
              'CPU per worker',
              <>Request and limit of each worker, e.g. 4 or 500m.</>,
              <TextInput id="f-cpu" value={d.form.cpu} validated={v('cpu')} onChange={(_e, x) => setForm({ cpu: x.trim() })} />,
            )}
            {field(
              'memory',
              'Memory per worker',
              <>Request and limit of each worker, e.g. 16Gi. A worker that needs more is OOMKilled.</>,
              <TextInput id="f-memory" value={d.form.memory} validated={v('memory')} onChange={(_e, x) => setForm({ memory: x.trim() })} />,
            )}
            {quota && <QuotaHint quota={quota} />}
          </Form>
        </WizardStep>
        <WizardStep name="Advanced" id="advanced">
          <Form>
            {field(
              'volumes',
              'Volumes',
              <>Mounted into the launcher and every worker, one per line: name:/mount/path:claim for a PersistentVolumeClaim, or name:/mount/path for scratch space.</>,
              <TextArea id="f-volumes" value={d.volumes} validated={v('volumes')} onChange={(_e, x) => setD({ ...d, volumes: x })} resizeOrientation="vertical" />,
            )}
            {field(
              'nodeSelector',
              'Node selector',
              <>Labels the nodes must have, one key=value per line, e.g. nvidia.com/gpu.product=A100.</>,
              <TextArea id="f-nodeSelector" value={d.nodeSelector} validated={v('nodeSelector')} onChange={(_e, x) => setD({ ...d, nodeSelector: x })} resizeOrientation="vertical" />,
            )}
            {field(
              'backoffLimit',
              'Retries',
              <>How often a failed launcher is retried before the job fails (spec.runPolicy.backoffLimit).</>,
              <TextInput
                id="f-backoffLimit"
                type="number"
                value={d.form.backoffLimit ?? ''}
                validated={v('backoffLimit')}
                onChange={(_e, x) => setForm({ backoffLimit: x === '' ? undefined : Number(x) })}
              />,
            )}
            {field(
              'activeDeadlineSeconds',
              'Deadline (seconds)',
              <>The job fails when it runs longer than this; empty for no deadline.</>,
              <TextInput
                id="f-activeDeadlineSeconds"
                type="number"
                value={d.form.activeDeadlineSeconds ?? ''}
                validated={v('activeDeadlineSeconds')}
                onChange={(_e, x) => setForm({ activeDeadlineSeconds: x === '' ? undefined : Number(x) })}
              />,
            )}
          </Form>
        </WizardStep>
        <WizardStep
          name="Review"
          id="review"
          footer={{ nextButtonText: 'Create', isNextDisabled: checking || !preview || serverErr !== null }}
        >
          {checking && <Spinner aria-label="Checking the job" />}
          {serverErr !== null && <ServerError err={serverErr} />}
          {preview?.warnings.map((w) => (
            <Alert key={w} variant="warning" isInline component="h2" title="Warning from the cluster">
              {w}
            </Alert>
          ))}
          {preview && (
            <>
              <Content component="p">The cluster accepted this job in a dry run. It will be created as:</Content>
              <CodeBlock>
                <CodeBlockCode>{preview.yaml}</CodeBlockCode>
              </CodeBlock>
            </>
          )}
        </WizardStep>
      </Wizard>
    </PageSection>
  );
}

function ServerError({ err }: { err: unknown }) {
  const quota = err instanceof ApiError && err.body.reason === 'Forbidden' && /quota/i.test(err.body.error);
  return (
    <>
      <ErrorAlert err={err} title={quota ? 'Over quota: the job can never run as it is' : 'The cluster rejected the job'} />
      {quota && (
        <Content component="p">Go back to Resources and lower the workers or their GPUs, or ask a platform admin to raise the quota.</Content>
      )}
    </>
  );
}

function QuotaHint({ quota }: { quota: QuotaView }) {
  const items = [
    ...quota.resourceQuotas.flatMap((q) => q.resources.map((r) => `ResourceQuota ${q.name}: ${r.resource} ${r.used} used of ${r.limit}`)),
    ...quota.localQueues.flatMap((q) =>
      (q.clusterQueueStatus?.resources ?? []).map(
        (r) => `ClusterQueue ${q.clusterQueue} (${r.flavor}): ${r.resource} ${r.used} used of ${r.limit}`,
      ),
    ),
  ];
  if (!items.length) return null;
  return (
    <Alert variant="info" isInline isPlain component="h2" title="Quota in this namespace">
      <ul>
        {items.map((i) => (
          <li key={i}>{i}</li>
        ))}
      </ul>
    </Alert>
  );
}
