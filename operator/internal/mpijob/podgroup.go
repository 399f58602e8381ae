package mpijob

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	resourcehelper "k8s.io/component-helpers/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// Keys by which pods join a PodGroup, and Volcano's queue annotation.
const (
	// schedulerPluginsPodGroupLabel names the coscheduling PodGroup of a pod.
	schedulerPluginsPodGroupLabel = "scheduling.x-k8s.io/pod-group"
	// volcanoGroupNameAnnotation names the Volcano PodGroup of a pod.
	volcanoGroupNameAnnotation = "scheduling.k8s.io/group-name"
	// volcanoQueueAnnotation on an MPIJob picks the Volcano queue when
	// schedulingPolicy.queue is empty (as upstream reads it).
	volcanoQueueAnnotation = "scheduling.volcano.sh/queue-name"
)

// Events about gang scheduling.
const (
	// ReasonGangSchedulingUnavailable: the PodGroup CRD of the configured
	// gang scheduler is not installed; the job runs without a PodGroup.
	ReasonGangSchedulingUnavailable = "GangSchedulingUnavailable"
	// ReasonFailedCreatePodGroup: the API server refused the PodGroup.
	ReasonFailedCreatePodGroup = "FailedCreatePodGroup"
)

// podGroupRecheck is how long a PodGroup found current is trusted before
// the next live read: PodGroups are not watched (their CRD may be absent
// when the manager starts), so reads go to the API server, not the cache.
const podGroupRecheck = time.Minute

// gangScheduler describes where a gang scheduler's PodGroups live and
// which scheduler its pods ask for unless their template names one.
type gangScheduler struct {
	gvk           schema.GroupVersionKind
	crd           string // the CRD's name, for messages
	install       string // what provides the CRD, for messages
	schedulerName string
}

var gangSchedulers = map[string]gangScheduler{
	GangSchedulerSchedulerPlugins: {
		gvk:     schema.GroupVersionKind{Group: "scheduling.x-k8s.io", Version: "v1alpha1", Kind: "PodGroup"},
		crd:     "podgroups.scheduling.x-k8s.io",
		install: "scheduler-plugins (coscheduling)",
		// Upstream puts its --gang-scheduling value here (our gangScheduling).
		schedulerName: GangSchedulerSchedulerPlugins,
	},
	GangSchedulerVolcano: {
		gvk:           schema.GroupVersionKind{Group: "scheduling.volcano.sh", Version: "v1beta1", Kind: "PodGroup"},
		crd:           "podgroups.scheduling.volcano.sh",
		install:       "Volcano",
		schedulerName: GangSchedulerVolcano,
	},
}

// desiredPodGroup is the job's PodGroup for scheduler, named like the job.
// Both kinds get minMember and minResources; scheduler-plugins also
// scheduleTimeoutSeconds, Volcano also queue and priorityClassName, which
// is where upstream puts each schedulingPolicy field.
func desiredPodGroup(job *kubeflow.MPIJob, scheduler string) *unstructured.Unstructured {
	policy := job.Spec.RunPolicy.SchedulingPolicy
	if policy == nil {
		policy = &kubeflow.SchedulingPolicy{}
	}
	minMember := podGroupMinMember(job)
	spec := map[string]any{"minMember": int64(minMember)}
	if res := podGroupMinResources(job, minMember); len(res) > 0 {
		list := make(map[string]any, len(res))
		for name, q := range res {
			list[string(name)] = q.String()
		}
		spec["minResources"] = list
	}
	switch scheduler {
	case GangSchedulerSchedulerPlugins:
		// Zero (the plugin's own default timeout) when unset, as upstream.
		var timeout int32
		if policy.ScheduleTimeoutSeconds != nil {
			timeout = *policy.ScheduleTimeoutSeconds
		}
		spec["scheduleTimeoutSeconds"] = int64(timeout)
	case GangSchedulerVolcano:
		queue := policy.Queue
		if queue == "" {
			queue = job.Annotations[volcanoQueueAnnotation]
		}
		if queue != "" {
			spec["queue"] = queue
		}
		if pc := podGroupPriorityClass(job); pc != "" {
			spec["priorityClassName"] = pc
		}
	}
	pg := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	pg.SetGroupVersionKind(gangSchedulers[scheduler].gvk)
	m := childMeta(job, job.Name, appLabels(job))
	pg.SetName(m.Name)
	pg.SetNamespace(m.Namespace)
	pg.SetLabels(m.Labels)
	pg.SetOwnerReferences(m.OwnerReferences)
	return pg
}

// podGroupMinMember is schedulingPolicy.minAvailable, or every pod of the
// job: the workers and the launcher.
func podGroupMinMember(job *kubeflow.MPIJob) int32 {
	if p := job.Spec.RunPolicy.SchedulingPolicy; p != nil && p.MinAvailable != nil {
		return *p.MinAvailable
	}
	return job.Workers() + 1
}

// podGroupMinResources is schedulingPolicy.minResources, or what the first
// minMember pods request together: the launcher and minMember-1 workers.
// A pod's requests are counted as the scheduler counts them (init
// containers, sidecars, overhead), with limits standing in for requests
// that are not set, as the API server would default them.
func podGroupMinResources(job *kubeflow.MPIJob, minMember int32) corev1.ResourceList {
	if p := job.Spec.RunPolicy.SchedulingPolicy; p != nil && p.MinResources != nil {
		return p.MinResources.DeepCopy()
	}
	if minMember <= 0 {
		return nil
	}
	total := corev1.ResourceList{}
	add := func(spec *kubeflow.ReplicaSpec, pods int32) {
		if spec == nil || pods <= 0 {
			return
		}
		for name, q := range templateRequests(&spec.Template) {
			q.Mul(int64(pods))
			sum := total[name]
			sum.Add(q)
			total[name] = sum
		}
	}
	add(job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher], 1)
	add(job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker], min(job.Workers(), minMember-1))
	return total
}

// templateRequests is what one pod of tmpl requests.
func templateRequests(tmpl *corev1.PodTemplateSpec) corev1.ResourceList {
	pod := &corev1.Pod{Spec: *tmpl.Spec.DeepCopy()}
	limitsAsRequests := func(r *corev1.ResourceRequirements) {
		for name, limit := range r.Limits {
			if _, ok := r.Requests[name]; !ok {
				if r.Requests == nil {
					r.Requests = corev1.ResourceList{}
				}
				r.Requests[name] = limit.DeepCopy()
			}
		}
	}
	for i := range pod.Spec.InitContainers {
		limitsAsRequests(&pod.Spec.InitContainers[i].Resources)
	}
	for i := range pod.Spec.Containers {
		limitsAsRequests(&pod.Spec.Containers[i].Resources)
	}
	if pod.Spec.Resources != nil {
		limitsAsRequests(pod.Spec.Resources)
	}
	return resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
}

// podGroupPriorityClass is schedulingPolicy.priorityClass, else the
// launcher's priorityClassName, else the workers' (upstream's order).
func podGroupPriorityClass(job *kubeflow.MPIJob) string {
	if p := job.Spec.RunPolicy.SchedulingPolicy; p != nil && p.PriorityClass != "" {
		return p.PriorityClass
	}
	for _, t := range []kubeflow.MPIReplicaType{kubeflow.MPIReplicaTypeLauncher, kubeflow.MPIReplicaTypeWorker} {
		if s := job.Spec.MPIReplicaSpecs[t]; s != nil && s.Template.Spec.PriorityClassName != "" {
			return s.Template.Spec.PriorityClassName
		}
	}
	return ""
}

// joinPodGroup makes pods of tmpl members of the job's PodGroup: the
// coscheduling label or Volcano's group annotation, and the gang
// scheduler's name unless the template names a scheduler. Without a gang
// scheduler it changes nothing.
func joinPodGroup(job *kubeflow.MPIJob, tmpl *corev1.PodTemplateSpec, scheduler string) {
	g, ok := gangSchedulers[scheduler]
	if !ok {
		return
	}
	switch scheduler {
	case GangSchedulerSchedulerPlugins:
		if tmpl.Labels == nil {
			tmpl.Labels = map[string]string{}
		}
		tmpl.Labels[schedulerPluginsPodGroupLabel] = job.Name
	case GangSchedulerVolcano:
		if tmpl.Annotations == nil {
			tmpl.Annotations = map[string]string{}
		}
		tmpl.Annotations[volcanoGroupNameAnnotation] = job.Name
	}
	if tmpl.Spec.SchedulerName == "" {
		tmpl.Spec.SchedulerName = g.schedulerName
	}
}

// podConfig is the configuration the job's pods are built with: without
// gang scheduling once the job's PodGroup turned out to be impossible
// because its CRD is missing, so that no pod waits for a scheduler or a
// PodGroup that is not there.
func (r *Reconciler) podConfig(s *state) Config {
	cfg := r.Config
	if cfg.GangScheduler != GangSchedulerNone {
		if unavailable, _ := r.expect.gangState(s.key); unavailable {
			cfg.GangScheduler = GangSchedulerNone
		}
	}
	return cfg
}

// syncPodGroup creates the job's PodGroup before its pods and keeps the
// fields it sets in line with the job. A suspended job gets none (Volcano
// would hold queue capacity for it), but the CRD's presence is still
// checked so that a launcher Job created while suspended is built right.
// When the CRD is missing the job runs without gang scheduling, with one
// warning event. The PodGroup goes with the job through its owner
// reference.
func (r *Reconciler) syncPodGroup(ctx context.Context, s *state) error {
	scheduler := r.Config.GangScheduler
	if scheduler == GangSchedulerNone {
		return nil
	}
	if unavailable, reported := r.expect.gangState(s.key); unavailable {
		if !reported {
			r.reportGangUnavailable(s, scheduler)
		}
		return nil
	}
	if r.expect.podGroupCRDMissingRecently(s.now.Time) {
		// Another job just found the CRD missing; the answer stands for
		// podGroupRecheck, so that a CRD installed later serves new jobs.
		r.gangUnavailable(s, scheduler)
		return nil
	}
	desired := desiredPodGroup(s.job, scheduler)
	specJSON, err := json.Marshal(desired.Object["spec"])
	if err != nil {
		return fmt.Errorf("encoding the PodGroup spec: %w", err)
	}
	spec := string(specJSON)
	if r.expect.podGroupCurrent(s.key, spec, s.now.Time) {
		return nil
	}
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(desired.GroupVersionKind())
	err = r.Client.Get(ctx, client.ObjectKeyFromObject(desired), live)
	switch {
	case meta.IsNoMatchError(err):
		r.expect.podGroupCRDFoundMissing(s.now.Time)
		r.gangUnavailable(s, scheduler)
		return nil
	case apierrors.IsNotFound(err):
		if s.job.IsSuspended() {
			return nil
		}
		return r.createPodGroup(ctx, s, desired)
	case err != nil:
		return fmt.Errorf("reading PodGroup %s: %w", desired.GetName(), err)
	case !metav1.IsControlledBy(live, s.job):
		return r.foreignChild(s, "PodGroup", live)
	}
	if mergePodGroupSpec(live, desired) {
		if err := r.Client.Update(ctx, live); err != nil {
			return fmt.Errorf("updating PodGroup %s: %w", live.GetName(), err)
		}
	}
	r.expect.podGroupSeen(s.key, spec, s.now.Time)
	return nil
}

func (r *Reconciler) createPodGroup(ctx context.Context, s *state, desired *unstructured.Unstructured) error {
	err := r.createChild(ctx, s, desired, "PodGroup")
	switch {
	case meta.IsNoMatchError(err):
		// The CRD went away between the read and the create.
		r.expect.podGroupCRDFoundMissing(s.now.Time)
		r.gangUnavailable(s, r.Config.GangScheduler)
		return nil
	case apierrors.IsInvalid(err) || apierrors.IsForbidden(err):
		// E.g. minAvailable 0, which coscheduling's schema rejects: say so
		// and retry later; the pods are still created and wait for it.
		s.eventf(corev1.EventTypeWarning, ReasonFailedCreatePodGroup, "creating PodGroup %s: %v", desired.GetName(), err)
		s.requeueAfter(30 * time.Second)
		return nil
	}
	return err
}

// gangUnavailable records that the job runs without gang scheduling and
// reports it once.
func (r *Reconciler) gangUnavailable(s *state, scheduler string) {
	r.expect.setGangUnavailable(s.key)
	r.reportGangUnavailable(s, scheduler)
}

// reportGangUnavailable emits the warning; it counts as reported once the
// pass's status write succeeded, which is when events are emitted.
func (r *Reconciler) reportGangUnavailable(s *state, scheduler string) {
	g := gangSchedulers[scheduler]
	s.eventf(corev1.EventTypeWarning, ReasonGangSchedulingUnavailable,
		"%s is not installed: install %s or run the controller without gangScheduling; this job runs without gang scheduling",
		g.crd, g.install)
	key := s.key
	s.afterWrite = append(s.afterWrite, func() { r.expect.setGangReported(key) })
}

// mergePodGroupSpec sets the fields of desired's spec on live and reports
// whether any changed. Fields desired leaves out (an empty Volcano queue)
// are left to whoever set them, e.g. Volcano's defaulting webhook.
func mergePodGroupSpec(live, desired *unstructured.Unstructured) bool {
	want, _ := desired.Object["spec"].(map[string]any)
	have, _ := live.Object["spec"].(map[string]any)
	if have == nil {
		have = map[string]any{}
	}
	changed := false
	for k, v := range want {
		same := apiequality.Semantic.DeepEqual(have[k], v)
		if k == "minResources" {
			same = sameQuantities(have[k], v)
		}
		if !same {
			have[k] = v
			changed = true
		}
	}
	live.Object["spec"] = have
	return changed
}

// sameQuantities compares two unstructured resource lists by value, so
// "1024Mi" equals "1Gi".
func sameQuantities(a, b any) bool {
	am, _ := a.(map[string]any)
	bm, _ := b.(map[string]any)
	if len(am) != len(bm) {
		return false
	}
	for name, av := range am {
		bv, ok := bm[name]
		if !ok {
			return false
		}
		aq, aerr := resource.ParseQuantity(fmt.Sprint(av))
		bq, berr := resource.ParseQuantity(fmt.Sprint(bv))
		if aerr != nil || berr != nil || aq.Cmp(bq) != 0 {
			return false
		}
	}
	return true
}
