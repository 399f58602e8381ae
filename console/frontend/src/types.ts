// Types of the console's REST API (console/backend); see
// docs/reference/console-api.md.

export interface JobSummary {
  type: string;
  namespace: string;
  name: string;
  status: string;
  workers: number;
  activeWorkers: number;
  gpus: number;
  queue?: string;
  // queuePosition is a queued job's place in its LocalQueue (1 is next),
  // when Kueue's visibility API answers.
  queuePosition?: number;
  message?: string;
  created: string;
  started?: string;
  finished?: string;
}

export interface TrainingJobList {
  items: JobSummary[];
  types: string[];
  errors?: Record<string, string>;
}

export interface Diagnosis {
  severity: 'danger' | 'warning' | 'info';
  reason: string;
  message: string;
}

export interface PodView {
  name: string;
  role: string;
  index?: number;
  phase: string;
  ready: boolean;
  node?: string;
  restarts: number;
  state?: string;
  message?: string;
  started?: string;
}

export interface WorkloadView {
  name: string;
  queue: string;
  clusterQueue?: string;
  admitted: boolean;
  message?: string;
}

export interface JobCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface JobDetails {
  summary: JobSummary;
  diagnosis?: Diagnosis;
  mpijob: { status?: { conditions?: JobCondition[] } } & Record<string, unknown>;
  yaml: string;
  pods: PodView[];
  workload?: WorkloadView;
  describe: string;
}

export interface EventView {
  type: string;
  reason: string;
  object: string;
  message: string;
  count: number;
  time: string;
  source?: string;
}

export interface EnvVar {
  name: string;
  value: string;
}

export interface VolumeForm {
  name: string;
  mountPath: string;
  claimName?: string;
  readOnly?: boolean;
}

export interface JobForm {
  name: string;
  image: string;
  command?: string;
  workers: number;
  gpusPerWorker?: number;
  cpu?: string;
  memory?: string;
  slotsPerWorker?: number;
  mpiImplementation?: string;
  queue?: string;
  env?: EnvVar[];
  nodeSelector?: Record<string, string>;
  volumes?: VolumeForm[];
  backoffLimit?: number;
  activeDeadlineSeconds?: number;
}

export interface CreateResponse {
  dryRun: boolean;
  mpijob: Record<string, unknown>;
  yaml: string;
  warnings: string[];
}

export interface FieldError {
  field: string;
  message: string;
}

export interface ApiErrorBody {
  error: string;
  reason: string;
  details?: { causes?: { field?: string; message?: string }[] };
  warnings?: string[];
  fields?: FieldError[];
}

export interface Identity {
  username: string;
  groups?: string[];
  admin: boolean;
}

export interface ConsoleConfig {
  version: string;
  metrics: boolean;
  grafanaURL?: string;
  quickstartURL: string;
}

export interface Usage {
  resource: string;
  flavor?: string;
  limit?: string;
  used: string;
  percent?: number;
}

export interface ResourceQuotaView {
  name: string;
  namespace: string;
  resources: Usage[];
}

export interface ClusterQueueView {
  name: string;
  cohort?: string;
  pendingWorkloads: number;
  admittedWorkloads: number;
  resources: Usage[];
}

export interface LocalQueueView {
  name: string;
  namespace: string;
  clusterQueue: string;
  pendingWorkloads: number;
  admittedWorkloads: number;
  usage: Usage[];
  clusterQueueStatus?: ClusterQueueView;
  clusterQueueError?: string;
}

export interface QuotaView {
  namespace: string;
  resourceQuotas: ResourceQuotaView[];
  localQueues: LocalQueueView[];
  kueue: boolean;
}

export interface ClusterQuota {
  namespaces: QuotaView[];
  clusterQueues: ClusterQueueView[];
  kueue: boolean;
}

// Point is one sample of a metrics series: [unix seconds, value].
export type Point = [number, number];

export interface MetricsSeries {
  // gpuUtilization is the average busy percentage (0-100) of the job's GPUs.
  gpuUtilization: Point[];
  samplesPerSecond: Point[];
  // scalingEfficiency is a ratio: 1 is linear scaling.
  scalingEfficiency: Point[];
}

export interface JobMetrics {
  // prometheus is false when the console has no Prometheus URL.
  prometheus: boolean;
  series?: MetricsSeries;
  start?: number;
  end?: number;
  step?: number;
  // grafana links to the job's GPU dashboard; empty when not configured.
  grafana: string;
}

export interface NamespaceGPU {
  namespace: string;
  gpuUtilization?: number;
  gpusAllocated?: number;
}

export interface ClusterGPU {
  prometheus: boolean;
  namespaces: NamespaceGPU[];
}
