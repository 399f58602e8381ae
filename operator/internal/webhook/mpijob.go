package webhook

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
)

const (
	// QueueNameLabel is Kueue's label naming a job's LocalQueue.
	QueueNameLabel = "kueue.x-k8s.io/queue-name"
	// DefaultQueueKey, as a label or annotation on a Namespace, names the
	// LocalQueue that MPIJobs created there without a queue-name go to.
	DefaultQueueKey = "mpijob.io/default-queue"
)

// Paths where the manager serves the MPIJob webhooks.
const (
	MutatePath   = "/mutate-kubeflow-org-v2beta1-mpijob"
	ValidatePath = "/validate-kubeflow-org-v2beta1-mpijob"
)

// +kubebuilder:webhook:path=/mutate-kubeflow-org-v2beta1-mpijob,mutating=true,failurePolicy=fail,sideEffects=None,groups=kubeflow.org,resources=mpijobs,verbs=create;update,versions=v2beta1,name=mpijobs.defaulting.mpijob.io,admissionReviewVersions=v1,reinvocationPolicy=IfNeeded,timeoutSeconds=10
// +kubebuilder:webhook:path=/validate-kubeflow-org-v2beta1-mpijob,mutating=false,failurePolicy=fail,sideEffects=None,groups=kubeflow.org,resources=mpijobs,verbs=create;update,versions=v2beta1,name=mpijobs.validation.mpijob.io,admissionReviewVersions=v1,timeoutSeconds=10

// +kubebuilder:rbac:groups="",resources=namespaces;resourcequotas,verbs=get;list;watch
// +kubebuilder:rbac:groups=kueue.x-k8s.io,resources=localqueues;clusterqueues;cohorts,verbs=get;list;watch
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// MPIJobWebhook defaults and validates MPIJobs at admission: upstream
// defaults, the platform's pod-template policy, a default queue, and a
// quota pre-check that rejects jobs that can never run and warns about
// jobs that will queue.
type MPIJobWebhook struct {
	// Reader reads Namespaces, ResourceQuotas and Kueue queues, normally
	// from the manager's cache.
	Reader client.Reader
	Policy Policy
	// Authorizer asks the apiserver whether the creator of a job may
	// create pods in its namespace (SubjectAccessReviews); nil skips the
	// check.
	Authorizer client.Writer

	// allowed remembers, for allowedTTL, who may create pods where: a
	// user submitting a burst of jobs costs one review, not one per job.
	allowed allowedCache
}

// SetupWithManager registers both webhooks on the manager's webhook server.
func (w *MPIJobWebhook) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewWebhookManagedBy(mgr, &kubeflow.MPIJob{}).
		WithDefaulter(w).
		WithValidator(w).
		WithDefaulterCustomPath(MutatePath).
		WithValidatorCustomPath(ValidatePath).
		Complete()
}

// Default fills upstream's defaults, the Istio opt-out and, on create, the
// namespace's default queue. It never fails for what validation will
// report better; it fails only when it cannot read what it needs.
func (w *MPIJobWebhook) Default(ctx context.Context, job *kubeflow.MPIJob) error {
	defaultJob(job, w.Policy)
	if req, err := admission.RequestFromContext(ctx); err == nil && req.Operation != admissionv1.Create {
		return nil
	}
	return w.defaultQueue(ctx, job)
}

// defaultJob is the part of defaulting that needs no reads.
func defaultJob(job *kubeflow.MPIJob, p Policy) {
	kubeflow.SetDefaults(job)
	p.applyIstioOptOut(job)
}

// defaultQueue gives a job without a queue-name its namespace's default
// LocalQueue: the one the namespace names under DefaultQueueKey, else the
// namespace's only LocalQueue. Like Kueue's own webhook, it creates the
// job suspended so that no pod starts before Kueue admits it.
func (w *MPIJobWebhook) defaultQueue(ctx context.Context, job *kubeflow.MPIJob) error {
	if job.Labels[QueueNameLabel] != "" {
		return nil
	}
	queue, err := w.namespaceDefaultQueue(ctx, job.Namespace)
	if err != nil || queue == "" {
		return err
	}
	if job.Labels == nil {
		job.Labels = map[string]string{}
	}
	job.Labels[QueueNameLabel] = queue
	job.Spec.RunPolicy.Suspend = ptr.To(true)
	return nil
}

func (w *MPIJobWebhook) namespaceDefaultQueue(ctx context.Context, namespace string) (string, error) {
	ns := &corev1.Namespace{}
	if err := w.Reader.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		return "", fmt.Errorf("reading namespace %s for its default queue: %w", namespace, err)
	}
	if q := ns.Labels[DefaultQueueKey]; q != "" {
		return q, nil
	}
	if q := ns.Annotations[DefaultQueueKey]; q != "" {
		return q, nil
	}
	queues, err := w.localQueues(ctx, namespace)
	if err != nil || len(queues) != 1 {
		return "", err
	}
	return queues[0], nil
}

// localQueues lists the LocalQueue names of a namespace; none when Kueue
// is not installed.
func (w *MPIJobWebhook) localQueues(ctx context.Context, namespace string) ([]string, error) {
	list := &kueue.LocalQueueList{}
	if err := w.Reader.List(ctx, list, client.InNamespace(namespace)); err != nil {
		if meta.IsNoMatchError(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing LocalQueues in %s: %w", namespace, err)
	}
	names := make([]string, 0, len(list.Items))
	for _, q := range list.Items {
		names = append(names, q.Name)
	}
	sort.Strings(names)
	return names, nil
}

// ValidateCreate validates a new job, then pre-checks its quota.
func (w *MPIJobWebhook) ValidateCreate(ctx context.Context, job *kubeflow.MPIJob) (admission.Warnings, error) {
	d := job.DeepCopy()
	defaultJob(d, Policy{}) // validate what the controller will run, even if defaulting was skipped
	errs := kubeflow.ValidateMPIJob(d)
	errs = append(errs, w.Policy.validate(d)...)
	lq, qerrs, err := w.queue(ctx, d)
	if err != nil {
		return nil, err
	}
	errs = append(errs, qerrs...)
	if len(errs) > 0 {
		return nil, invalid(d, errs)
	}
	if err := w.creatorMayCreatePods(ctx, d); err != nil {
		return nil, err
	}
	return w.preCheck(ctx, d, lq)
}

// creatorMayCreatePods refuses a job whose creator may not create pods in
// its namespace: the controller creates them on the creator's behalf, so
// the right to create MPIJobs must never be more than the right to create
// pods (a role granting only mpijobs would otherwise be an escalation).
func (w *MPIJobWebhook) creatorMayCreatePods(ctx context.Context, job *kubeflow.MPIJob) error {
	req, err := admission.RequestFromContext(ctx)
	if w.Authorizer == nil || err != nil {
		return nil
	}
	u := req.UserInfo
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: u.Username, UID: u.UID, Groups: u.Groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: job.Namespace, Verb: "create", Resource: "pods"},
	}}
	if len(u.Extra) > 0 {
		sar.Spec.Extra = map[string]authorizationv1.ExtraValue{}
		for k, v := range u.Extra {
			sar.Spec.Extra[k] = authorizationv1.ExtraValue(v)
		}
	}
	key := allowedKey(sar.Spec)
	if w.allowed.has(key, time.Now()) {
		return nil
	}
	if err := w.Authorizer.Create(ctx, sar); err != nil {
		return fmt.Errorf("checking that %s may create pods in %s: %w", u.Username, job.Namespace, err)
	}
	if sar.Status.Allowed {
		w.allowed.add(key, time.Now())
		return nil
	}
	denial := apierrors.NewForbidden(kubeflow.SchemeGroupVersion.WithResource("mpijobs").GroupResource(), job.Name, fmt.Errorf(
		"%s may not create pods in namespace %s, and an MPIJob's launcher and workers are pods created on its creator's behalf: ask a namespace admin for the edit role (which includes mpijob-platform-user)",
		u.Username, job.Namespace))
	denial.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: mpijob.CausePodsForbidden, Field: job.Namespace, Message: u.Username + " may not create pods"}}
	return denial
}

// ValidateUpdate validates the new object and immutable fields. The
// policy rejects only what the update introduces, so a job admitted under
// an older policy can still be suspended, resumed and finished.
func (w *MPIJobWebhook) ValidateUpdate(ctx context.Context, oldJob, newJob *kubeflow.MPIJob) (admission.Warnings, error) {
	o, n := oldJob.DeepCopy(), newJob.DeepCopy()
	defaultJob(o, Policy{})
	defaultJob(n, Policy{})
	errs := kubeflow.ValidateMPIJobUpdate(o, n)
	before := map[string]bool{}
	for _, e := range w.Policy.validate(o) {
		before[e.Field] = true
	}
	for _, e := range w.Policy.validate(n) {
		if !before[e.Field] {
			errs = append(errs, e)
		}
	}
	if o.Labels[QueueNameLabel] != n.Labels[QueueNameLabel] {
		_, qerrs, err := w.queue(ctx, n)
		if err != nil {
			return nil, err
		}
		errs = append(errs, qerrs...)
	}
	if len(errs) > 0 {
		return nil, invalid(n, errs)
	}
	return nil, nil
}

// ValidateDelete allows every delete.
func (w *MPIJobWebhook) ValidateDelete(context.Context, *kubeflow.MPIJob) (admission.Warnings, error) {
	return nil, nil
}

func invalid(job *kubeflow.MPIJob, errs field.ErrorList) error {
	return apierrors.NewInvalid(kubeflow.SchemeGroupVersionKind.GroupKind(), job.Name, errs)
}

var queueLabelPath = field.NewPath("metadata", "labels").Key(QueueNameLabel)

// queue finds the LocalQueue a job names; a name that does not exist is a
// field error listing those that do. Without Kueue there is nothing to
// check and no queue.
func (w *MPIJobWebhook) queue(ctx context.Context, job *kubeflow.MPIJob) (*kueue.LocalQueue, field.ErrorList, error) {
	name := job.Labels[QueueNameLabel]
	if name == "" {
		return nil, nil, nil
	}
	lq := &kueue.LocalQueue{}
	err := w.Reader.Get(ctx, client.ObjectKey{Namespace: job.Namespace, Name: name}, lq)
	switch {
	case err == nil:
		return lq, nil, nil
	case meta.IsNoMatchError(err):
		return nil, nil, nil
	case !apierrors.IsNotFound(err):
		return nil, nil, fmt.Errorf("reading LocalQueue %s/%s: %w", job.Namespace, name, err)
	}
	names, err := w.localQueues(ctx, job.Namespace)
	if err != nil {
		return nil, nil, err
	}
	have := "there are none: ask a platform admin to create one, or remove the label to run without Kueue"
	if len(names) > 0 {
		have = "use one of: " + strings.Join(names, ", ")
	}
	return nil, field.ErrorList{field.Invalid(queueLabelPath, name, fmt.Sprintf("no LocalQueue %q in namespace %s; %s", name, job.Namespace, have))}, nil
}

// preCheck compares the job's total requests with the namespace's
// ResourceQuotas and its ClusterQueue. A job that can never fit is
// rejected with the numbers; one that fits only later gets warnings. A
// pre-check that cannot read what it needs lets the job through with a
// warning: quotas are still enforced where they always are.
func (w *MPIJobWebhook) preCheck(ctx context.Context, job *kubeflow.MPIJob, lq *kueue.LocalQueue) (admission.Warnings, error) {
	sets := jobPodSets(job)
	requests, limits, pods := jobTotals(sets)
	var warnings admission.Warnings
	var never []string
	var causes []metav1.StatusCause
	refuse := func(where string, s []shortfall) {
		never = append(never, where+":")
		for _, x := range s {
			w := x.wire(where)
			never = append(never, "  "+w.String())
			causes = append(causes, w.Cause())
		}
	}

	quotas := &corev1.ResourceQuotaList{}
	if err := w.Reader.List(ctx, quotas, client.InNamespace(job.Namespace)); err != nil {
		warnings = append(warnings, fmt.Sprintf("quota pre-check skipped, ResourceQuotas unreadable: %v", err))
	}
	for i := range quotas.Items {
		q := &quotas.Items[i]
		v := checkResourceQuota(q, requests, limits, pods)
		if len(v.Never) > 0 {
			refuse(fmt.Sprintf("ResourceQuota %s/%s", q.Namespace, q.Name), v.Never)
		}
		if len(v.Later) > 0 {
			warnings = append(warnings, fmt.Sprintf("ResourceQuota %s/%s is nearly used up, pods will wait until others finish: %s", q.Namespace, q.Name, joinShortfalls(v.Later)))
		}
	}

	if lq != nil {
		cq, cohort, err := w.clusterQueue(ctx, lq)
		switch {
		case err != nil:
			warnings = append(warnings, fmt.Sprintf("Kueue quota pre-check skipped: %v", err))
		case cq == nil:
			warnings = append(warnings, fmt.Sprintf("LocalQueue %s points at ClusterQueue %s, which does not exist: the job will wait until a platform admin creates it", lq.Name, lq.Spec.ClusterQueue))
		default:
			v := checkClusterQueue(cq, cohort, sets)
			if len(v.Never) > 0 {
				refuse(fmt.Sprintf("ClusterQueue %s (behind LocalQueue %s/%s)", cq.Name, lq.Namespace, lq.Name), v.Never)
			}
			if len(v.Later) > 0 {
				warnings = append(warnings, fmt.Sprintf("the job will queue: ClusterQueue %s (behind LocalQueue %s) cannot admit it now and has %d workload(s) pending: %s", cq.Name, lq.Name, cq.Status.PendingWorkloads, joinShortfalls(v.Later)))
			}
		}
	}

	if len(never) > 0 {
		msg := fmt.Sprintf("MPIJob %s can never run: it requests %s over %d pod(s), more than its quota allows.\n%s\nTo run it, lower the workers (spec.mpiReplicaSpecs[Worker].replicas) or their requests, or ask a platform admin to raise the quota.",
			job.Name, formatList(requests), pods, strings.Join(never, "\n"))
		// The numbers travel as causes too (pkg/mpijob/quota), so that no
		// client parses the message.
		denial := apierrors.NewForbidden(kubeflow.SchemeGroupVersion.WithResource("mpijobs").GroupResource(), job.Name, errors.New(msg))
		denial.ErrStatus.Details.Causes = causes
		return warnings, denial
	}
	return warnings, nil
}

// clusterQueue reads the ClusterQueue behind a LocalQueue and what the
// pre-check needs of its cohort; nil when it does not exist.
func (w *MPIJobWebhook) clusterQueue(ctx context.Context, lq *kueue.LocalQueue) (*kueue.ClusterQueue, cohortView, error) {
	var cohort cohortView
	cq := &kueue.ClusterQueue{}
	if err := w.Reader.Get(ctx, client.ObjectKey{Name: string(lq.Spec.ClusterQueue)}, cq); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, cohort, nil
		}
		return nil, cohort, fmt.Errorf("reading ClusterQueue %s: %w", lq.Spec.ClusterQueue, err)
	}
	if cq.Spec.CohortName == "" {
		return cq, cohort, nil
	}
	peers := &kueue.ClusterQueueList{}
	if err := w.Reader.List(ctx, peers); err != nil {
		return nil, cohort, fmt.Errorf("listing ClusterQueues of cohort %s: %w", cq.Spec.CohortName, err)
	}
	cohort.Peers = peers.Items
	err := w.Reader.Get(ctx, client.ObjectKey{Name: string(cq.Spec.CohortName)}, &kueue.Cohort{})
	switch {
	case err == nil:
		cohort.HasObject = true
	case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
	default:
		return nil, cohort, fmt.Errorf("reading Cohort %s: %w", cq.Spec.CohortName, err)
	}
	return cq, cohort, nil
}

func joinShortfalls(s []shortfall) string {
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = x.String()
	}
	return strings.Join(parts, "; ")
}
