package mpijob

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
)

// ControllerName names the controller in logs, events and metrics.
const ControllerName = "mpijob-controller"

// Reconciler reconciles MPIJobs.
type Reconciler struct {
	Client client.Client
	// APIReader reads around the cache, to check who owns a name that is
	// taken; the Client is used when nil.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Config    Config
	Clock     clock.PassiveClock
	// Workers is the number of jobs reconciled in parallel.
	Workers int

	expect *expectations
}

// Children are never deleted one by one: their owner references hand them
// to the garbage collector with their MPIJob; delete on MPIJobs is for
// ttlSecondsAfterFinished, and status is written with update only.
// +kubebuilder:rbac:groups=kubeflow.org,resources=mpijobs,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=kubeflow.org,resources=mpijobs/status,verbs=get;update
// +kubebuilder:rbac:groups=kubeflow.org,resources=mpijobs/finalizers,verbs=update
// Workers are deleted in one DeleteCollection (suspend, cleanPodPolicy) and
// a child created before the cache label existed gets it by update.
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;update;delete;deletecollection
// +kubebuilder:rbac:groups="",resources=services;configmaps,verbs=get;list;watch;create;update
// SSH Secrets are created and read by name only: no list or watch, so the
// controller never sees a Secret it did not make.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=scheduling.x-k8s.io,resources=podgroups,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=scheduling.volcano.sh,resources=podgroups,verbs=get;list;watch;create;update

// SetupWithManager registers the controller: MPIJobs and the pods and Jobs
// they control wake it up.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.Workers == 0 {
		r.Workers = 8
	}
	if r.APIReader == nil {
		r.APIReader = r.Client
	}
	r.expect = newExpectations()
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, podJobIndex, podJobName); err != nil {
		return fmt.Errorf("indexing pods by MPIJob: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		For(&kubeflow.MPIJob{}).
		Owns(&corev1.Pod{}).
		Owns(&batchv1.Job{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Workers}).
		Complete(r)
}

// state is what one pass learns and decides; status is written once, at
// the end of Reconcile, and events only after that write succeeded.
type state struct {
	key      types.NamespacedName
	job      *kubeflow.MPIJob // defaulted copy; its status is the new status
	workers  []corev1.Pod     // controlled worker pods, by index
	launcher *batchv1.Job
	lPods    []corev1.Pod // the launcher Job's pods
	events   []event
	// afterWrite runs once the status write succeeded (metrics), so a
	// retried pass never counts twice.
	afterWrite []func()
	requeue    time.Duration
	now        metav1.Time
	// predecessor names a child of a deleted MPIJob of the same name that
	// the garbage collector has not removed yet: the pass creates nothing
	// and looks again shortly.
	predecessor string
}

type event struct{ kind, reason, message string }

// pods returns the workers and the launcher's pods together.
func (s *state) pods() []corev1.Pod {
	return append(append(make([]corev1.Pod, 0, len(s.workers)+len(s.lPods)), s.workers...), s.lPods...)
}

func (s *state) eventf(kind, reason, format string, args ...any) {
	s.events = append(s.events, event{kind, reason, eventNote(fmt.Sprintf(format, args...))})
}

func (s *state) requeueAfter(d time.Duration) {
	if d > 0 && (s.requeue == 0 || d < s.requeue) {
		s.requeue = d
	}
}

// Reconcile brings one MPIJob's children in line with its spec and reports
// their state in its status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	orig := &kubeflow.MPIJob{}
	if err := r.Client.Get(ctx, req.NamespacedName, orig); err != nil {
		if apierrors.IsNotFound(err) {
			r.expect.forget(req.NamespacedName)
			forgetJobMetrics(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if orig.DeletionTimestamp != nil || !orig.ManagedByUs() {
		// Children go with the job through owner references; jobs of
		// another controller (MultiKueue) are not ours to touch.
		return ctrl.Result{}, nil
	}
	if r.expect.staleJob(req.NamespacedName, orig.ResourceVersion) {
		// Our last status write has not reached the cache yet; its watch
		// event brings the job back (the requeue is a safety net).
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	job := orig.DeepCopy()
	kubeflow.SetDefaults(job)
	s := &state{key: req.NamespacedName, job: job, now: metav1.NewTime(r.Clock.Now())}
	log := log.FromContext(ctx).WithValues("MPIJob", klog.KObj(job))

	err := r.sync(ctx, s)
	if err != nil {
		log.Error(err, "reconcile failed", "phase", mpijob.PhaseOf(job))
	} else if s.job.Status.Conditions != nil && !isFinished(&orig.Status) {
		// Acted on this spec; written with the pass's other changes. A
		// job that had finished keeps its status as it was: an upgrade
		// does not rewrite the whole history.
		s.job.Status.ObservedGeneration = s.job.Generation
	}
	if requeue, uerr := r.writeStatus(ctx, s, orig); uerr != nil {
		return ctrl.Result{}, errors.Join(err, uerr)
	} else if requeue {
		// A conflict: the job changed under us; look again shortly.
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	if len(s.events) > 0 {
		// Every event is a decision of this pass; the log keeps them past
		// the events' one-hour life.
		phase := mpijob.PhaseOf(s.job)
		for _, e := range s.events {
			r.Recorder.Eventf(orig, nil, e.kind, e.reason, "Reconcile", "%s", e.message)
			log.V(2).Info(e.message, "reason", e.reason, "type", e.kind, "phase", phase)
		}
	}
	for _, f := range s.afterWrite {
		f()
	}
	return ctrl.Result{RequeueAfter: s.requeue}, err
}

// writeStatus writes the new status when it changed. Changes of pod counts
// alone are coalesced (at most one such write per coalesceWindow);
// conditions and times are written at once, and so is the count that
// says the job's last replica stopped: Kueue holds a suspended
// (preempted) job's quota until its status counts no active replica, and
// a preemptor would wait out the window. A conflict asks for a requeue.
func (r *Reconciler) writeStatus(ctx context.Context, s *state, orig *kubeflow.MPIJob) (requeue bool, err error) {
	if apiequality.Semantic.DeepEqual(orig.Status, s.job.Status) {
		return false, nil
	}
	lastStopped := active(orig.Status) > 0 && active(s.job.Status) == 0
	if !lastStopped && apiequality.Semantic.DeepEqual(withoutCounts(orig.Status), withoutCounts(s.job.Status)) {
		if wait := r.expect.wait(s.key, statusWrite, s.now.Time); wait > 0 {
			s.requeueAfter(wait)
			return false, nil
		}
	} else {
		r.expect.wrote(s.key, statusWrite)
	}
	orig.Status = s.job.Status
	from := orig.ResourceVersion
	if err := r.Client.Status().Update(ctx, orig); err != nil {
		if apierrors.IsConflict(err) {
			return true, nil
		}
		return false, err
	}
	r.expect.statusWritten(s.key, from)
	return false, nil
}

// active counts the replicas a status calls active, as Kueue's MPIJob
// integration does to tell whether the job still holds its resources.
func active(st kubeflow.JobStatus) int32 {
	var n int32
	for _, rs := range st.ReplicaStatuses {
		if rs != nil {
			n += rs.Active
		}
	}
	return n
}

// sync runs the phases in order; each returns early only on an API error.
func (r *Reconciler) sync(ctx context.Context, s *state) error {
	job := s.job
	// A job whose children exist was valid when it started: limits and
	// policy rules added since (name rules, worker maxima, baseline) never
	// fail a running job on upgrade.
	if getCondition(&job.Status, kubeflow.JobCreated) == nil {
		if errs := kubeflow.ValidateMPIJob(job); len(errs) > 0 {
			r.failBeforeStart(s, mpijob.ReasonValidationError, "the MPIJob is invalid and will not run: "+errs.ToAggregate().Error())
			return nil
		}
		// The webhooks refuse the same at admission; this holds when they
		// are absent or were bypassed.
		if errs := r.Config.Policy.Validate(job); len(errs) > 0 {
			r.failBeforeStart(s, mpijob.ReasonPolicyViolation, "the MPIJob breaks this platform's pod policy and will not run (no pod was created): "+errs.ToAggregate().Error())
			return nil
		}
	}
	if job.Status.StartTime == nil {
		job.Status.StartTime = &s.now
	}
	if err := r.observe(ctx, s); err != nil {
		return fmt.Errorf("reading the job's children: %w", err)
	}
	if s.predecessor != "" && !isFinished(&job.Status) {
		return r.waitForPredecessor(ctx, s)
	}
	if isFinished(&job.Status) {
		return r.finishing(ctx, s)
	}
	// A finished launcher ends the job even when the status saying so has
	// not been stored yet (its write met a conflict): never recreate the
	// workers that finishing has already deleted.
	if s.launcher != nil && isJobFinished(s.launcher) {
		r.updateStatus(s)
		if isFinished(&job.Status) {
			return r.finishing(ctx, s)
		}
	}
	for _, phase := range []struct {
		what string
		sync func(context.Context, *state) error
	}{
		{"the SSH Secret", r.syncSSHSecret},
		{"the Service", r.syncService},
		{"the ConfigMap", r.syncConfigMap},
		{"the NetworkPolicy", r.syncNetworkPolicy},
		{"the PodGroup", r.syncPodGroup}, // before any pod, which would otherwise join no group
		{"the workers", r.syncWorkers},
		{"the launcher", r.syncLauncher},
	} {
		if err := phase.sync(ctx, s); err != nil {
			return fmt.Errorf("syncing %s: %w", phase.what, err)
		}
		if s.predecessor != "" {
			return r.waitForPredecessor(ctx, s)
		}
	}
	r.updateStatus(s)
	if isFinished(&job.Status) {
		return r.finishing(ctx, s)
	}
	return nil
}

// finishing is finish with its errors saying so.
func (r *Reconciler) finishing(ctx context.Context, s *state) error {
	if err := r.finish(ctx, s); err != nil {
		return fmt.Errorf("finishing (cleanPodPolicy, TTL): %w", err)
	}
	return nil
}

// observe reads the job's pods and launcher Job from the cache.
func (r *Reconciler) observe(ctx context.Context, s *state) error {
	job := s.job
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.InNamespace(job.Namespace), client.MatchingFields{podJobIndex: job.Name}); err != nil {
		return err
	}
	s.workers, s.lPods = nil, nil
	present, terminating := map[string]types.UID{}, map[types.UID]bool{}
	for _, p := range pods.Items {
		switch {
		case metav1.IsControlledBy(&p, job) && p.Labels[kubeflow.JobRoleLabel] == kubeflow.RoleWorker:
			s.workers = append(s.workers, p)
			present["Pod/"+p.Name] = p.UID
			if p.DeletionTimestamp != nil {
				terminating[p.UID] = true
			}
		case p.Labels[kubeflow.JobRoleLabel] == kubeflow.RoleLauncher:
			s.lPods = append(s.lPods, p)
		case predecessorOf(&p, job):
			s.predecessor = "Pod " + p.Name
		}
	}
	r.expect.observed(s.key, present, terminating, s.now.Time)
	launcher := &batchv1.Job{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: job.Namespace, Name: launcherName(job)}, launcher)
	switch {
	case apierrors.IsNotFound(err):
		s.launcher = nil
	case err != nil:
		return err
	case !metav1.IsControlledBy(launcher, job):
		return r.foreignChild(s, "Job", launcher)
	default:
		s.launcher = launcher
		// Only pods of this Job count (a Job of the same name from an
		// earlier job would not be controlled by us).
		var owned []corev1.Pod
		for _, p := range s.lPods {
			if metav1.IsControlledBy(&p, launcher) {
				owned = append(owned, p)
			}
		}
		s.lPods = owned
	}
	return nil
}

// foreignChild reports a child name taken by an object we do not control:
// the job fails, unless the object is a child of a deleted MPIJob of the
// same name (deleted and created again, as pipelines do), which the
// garbage collector is about to remove: then the job waits for it.
func (r *Reconciler) foreignChild(s *state, kind string, obj metav1.Object) error {
	name := obj.GetName()
	if predecessorOf(obj, s.job) {
		s.predecessor = kind + " " + name
		return nil
	}
	msg := fmt.Sprintf("%s %s/%s exists and is not controlled by this MPIJob: rename the job or delete the %s", kind, s.job.Namespace, name, kind)
	s.eventf(corev1.EventTypeWarning, "ErrResourceExists", "%s", msg)
	setCondition(&s.job.Status, kubeflow.JobFailed, corev1.ConditionTrue, "ErrResourceExists", msg, s.now)
	return nil
}

// waitForPredecessor ends a pass that found a child of a deleted MPIJob of
// the same name: nothing more is created until the garbage collector has
// removed it.
func (r *Reconciler) waitForPredecessor(ctx context.Context, s *state) error {
	log.FromContext(ctx).Info("waiting for the garbage collector to remove a child of a deleted MPIJob of the same name", "child", s.predecessor)
	s.requeueAfter(time.Second)
	return nil
}

// predecessorOf says whether obj is controlled by an MPIJob of job's name
// other than job: one deleted before job was created, whose children the
// garbage collector is removing.
func predecessorOf(obj metav1.Object, job *kubeflow.MPIJob) bool {
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.Kind != kubeflow.SchemeGroupVersionKind.Kind || ref.Name != job.Name || ref.UID == job.UID {
		return false
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	return err == nil && gv.Group == kubeflow.SchemeGroupVersion.Group
}

// syncSSHSecret makes sure the job's SSH Secret exists. Secrets are not
// cached (the controller may not list or watch them): the first pass for a
// job creates it, handling AlreadyExists; a job that already has children
// (a controller restart) reads it by name first, so that no key pair is
// generated for nothing. Once known, later passes cost nothing.
func (r *Reconciler) syncSSHSecret(ctx context.Context, s *state) error {
	if r.expect.secretKnown(s.key, s.job.UID) {
		return nil
	}
	if getCondition(&s.job.Status, kubeflow.JobCreated) != nil {
		if found, err := r.findSSHSecret(ctx, s); found || err != nil {
			return err
		}
	}
	keys, err := generateSSHKeys(r.Config.SSHKeyType)
	if err != nil {
		return fmt.Errorf("generating the SSH key pair: %w", err)
	}
	switch err := r.Client.Create(ctx, desiredSSHSecret(s.job, keys)); {
	case apierrors.IsAlreadyExists(err):
		_, err = r.findSSHSecret(ctx, s)
		return err
	case err != nil:
		return err
	}
	r.expect.setSecretKnown(s.key, s.job.UID)
	return nil
}

// findSSHSecret reads the job's SSH Secret by name: found and ours, it is
// known from now on; found and not ours, the job fails as for any child
// whose name is taken.
func (r *Reconciler) findSSHSecret(ctx context.Context, s *state) (found bool, err error) {
	live := &corev1.Secret{}
	err = r.APIReader.Get(ctx, client.ObjectKey{Namespace: s.job.Namespace, Name: sshSecretName(s.job)}, live)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, err
	case !metav1.IsControlledBy(live, s.job):
		return true, r.foreignChild(s, "Secret", live)
	}
	r.expect.setSecretKnown(s.key, s.job.UID)
	return true, nil
}

func (r *Reconciler) syncService(ctx context.Context, s *state) error {
	return r.ensureChild(ctx, s, serviceName(s.job), &corev1.Service{}, "Service", func() (client.Object, error) {
		return desiredService(s.job), nil
	})
}

// ensureChild creates the child called name, built by build, when the cache
// does not hold it and no create of ours is on its way, and reports a
// same-named object that the job does not control. existing is an empty
// object of the child's type.
func (r *Reconciler) ensureChild(ctx context.Context, s *state, name string, existing client.Object, kind string, build func() (client.Object, error)) error {
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: s.job.Namespace, Name: name}, existing)
	switch {
	case apierrors.IsNotFound(err):
		if r.expect.createPending(s.key, kind+"/"+name) {
			return nil
		}
		desired, err := build()
		if err != nil {
			return err
		}
		return r.createChild(ctx, s, desired, kind)
	case err != nil:
		return err
	case !metav1.IsControlledBy(existing, s.job):
		return r.foreignChild(s, kind, existing)
	}
	return nil
}

// createChild creates a child unless our create of it is still on its way
// to the cache. When the name is taken it reads the live object: one we
// control (a lagging cache, or a child made before our cache label existed,
// which gets the label) is fine; anything else is reported, never adopted.
func (r *Reconciler) createChild(ctx context.Context, s *state, obj client.Object, kind string) error {
	ekey := kind + "/" + obj.GetName()
	if r.expect.createPending(s.key, ekey) {
		return nil
	}
	err := r.Client.Create(ctx, obj)
	if err == nil {
		r.expect.expectCreate(s.key, ekey, s.now.Time)
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	live, ok := obj.DeepCopyObject().(client.Object)
	if !ok {
		return fmt.Errorf("copying %s %s", kind, obj.GetName())
	}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(obj), live); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(live, s.job) {
		return r.foreignChild(s, kind, live)
	}
	r.expect.expectCreate(s.key, ekey, s.now.Time)
	if live.GetLabels()[kubeflow.OperatorNameLabel] != kubeflow.OperatorName {
		lbl := live.GetLabels()
		if lbl == nil {
			lbl = map[string]string{}
		}
		lbl[kubeflow.OperatorNameLabel] = kubeflow.OperatorName
		live.SetLabels(lbl)
		return r.Client.Update(ctx, live)
	}
	return nil
}

func (r *Reconciler) syncConfigMap(ctx context.Context, s *state) error {
	desired := desiredConfigMap(s.job, s.workers, r.Config.ClusterDomain)
	existing := &corev1.ConfigMap{}
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(desired), existing)
	if apierrors.IsNotFound(err) {
		r.expect.wrote(s.key, configWrite)
		return r.createChild(ctx, s, desired, "ConfigMap")
	}
	if err != nil {
		return err
	}
	if !metav1.IsControlledBy(existing, s.job) {
		return r.foreignChild(s, "ConfigMap", existing)
	}
	if apiequality.Semantic.DeepEqual(existing.Data, desired.Data) {
		return nil
	}
	// The hostfile is written at once; discover_hosts.sh follows workers as
	// they start, coalesced so that a burst of starts costs one write, and
	// written at once when it is final (every worker listed): a job that
	// starts within the window costs exactly one refresh.
	if existing.Data[hostfileName] == desired.Data[hostfileName] && !allWorkersRunning(s.job, s.workers) {
		if wait := r.expect.wait(s.key, configWrite, s.now.Time); wait > 0 {
			s.requeueAfter(wait)
			return nil
		}
	} else {
		r.expect.wrote(s.key, configWrite)
	}
	existing.Data = desired.Data
	return r.Client.Update(ctx, existing)
}

// maxParallelCreates bounds the worker creates one job has in flight (the
// client's rate limiter paces them further).
const maxParallelCreates = 32

// syncWorkers creates missing workers and removes surplus ones; a
// suspended job has none.
func (r *Reconciler) syncWorkers(ctx context.Context, s *state) error {
	job := s.job
	want := int(job.Workers())
	if job.IsSuspended() {
		want = 0
	}
	if want == 0 {
		return r.deleteWorkers(ctx, s, func(*corev1.Pod) bool { return true }, nil)
	}
	have := map[string]bool{}
	for i := range s.workers {
		p := &s.workers[i]
		have[p.Name] = true
		idx, err := strconv.Atoi(p.Labels[kubeflow.ReplicaIndexLabel])
		if job.LauncherIsWorker() {
			idx--
		}
		if (err != nil || idx >= want) && p.DeletionTimestamp == nil && !r.expect.deletePending(s.key, p.UID) {
			if err := client.IgnoreNotFound(r.Client.Delete(ctx, p)); err != nil {
				return err
			}
			r.expect.expectDelete(s.key, p.UID, s.now.Time)
		}
	}
	var missing []*corev1.Pod
	for i := 0; i < want; i++ {
		if name := workerName(job, i); !have[name] && !r.expect.createPending(s.key, "Pod/"+name) {
			missing = append(missing, desiredWorker(job, i, r.podConfig(s)))
		}
	}
	// A job's workers are created together (up to maxParallelCreates at
	// a time): they reach the scheduler side by side, and a gang costs one
	// round trip instead of one per worker.
	errs := make([]error, len(missing))
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxParallelCreates)
	for i, pod := range missing {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			errs[i] = r.Client.Create(ctx, pod)
		}()
	}
	wg.Wait()
	var failed error
	refused := 0
	for i, pod := range missing {
		err := errs[i]
		switch {
		case err == nil:
			r.expect.expectCreate(s.key, "Pod/"+pod.Name, s.now.Time)
			continue
		case apierrors.IsAlreadyExists(err):
			// Ours from an earlier pass (adopted) or someone else's
			// (reported): createChild tells which.
			err = r.createChild(ctx, s, pod, "Pod")
		}
		switch {
		case err == nil:
		case apierrors.IsForbidden(err) || apierrors.IsInvalid(err):
			// Quota or admission refused the pod: say so (once for the
			// pass), retry later.
			if refused++; refused == 1 {
				s.eventf(corev1.EventTypeWarning, "FailedCreateWorker", "creating %s: %v", pod.Name, err)
			}
			s.requeueAfter(30 * time.Second)
		case failed == nil:
			failed = err
		}
	}
	return failed
}

// syncLauncher creates the launcher Job when its policy allows, keeps it
// suspended while the MPIJob is, and resumes it with Kueue's scheduling
// directives when the MPIJob is resumed.
func (r *Reconciler) syncLauncher(ctx context.Context, s *state) error {
	job := s.job
	waiting := launcherMustWait(job, s.workers)
	if s.launcher == nil {
		if waiting {
			return nil
		}
		return r.createChild(ctx, s, desiredLauncherJob(job, r.podConfig(s)), "Job")
	}
	launcher := s.launcher
	suspended := ptr.Deref(launcher.Spec.Suspend, false)
	switch {
	case job.IsSuspended() && !suspended && !isJobFinished(launcher):
		launcher.Spec.Suspend = ptr.To(true)
		return r.Client.Update(ctx, launcher)
	case !job.IsSuspended() && suspended && !waiting:
		desired := desiredLauncherTemplate(job, r.podConfig(s))
		syncSchedulingDirectives(launcher, &desired)
		launcher.Spec.Suspend = ptr.To(false)
		return r.Client.Update(ctx, launcher)
	}
	return nil
}

// launcherMustWait says whether the launcher may not be created (or
// resumed) yet. With WaitForWorkersReady the launcher neither exists nor
// runs before every worker is Ready, also across suspension (Kueue admits
// the job by resuming it): mpirun never starts against workers still
// starting. [ours] Intel MPI and MPICH wait at least until every worker has
// an address, whatever the policy: their Hydra launcher resolves each host
// once, and when a worker's name does not resolve yet (its pod has no
// address for the headless Service to publish) it waits forever instead of
// failing; real runs on the dev cluster hung that way. Open MPI's mpirun
// fails instead, and the launcher is retried.
func launcherMustWait(job *kubeflow.MPIJob, workers []corev1.Pod) bool {
	if job.Spec.LauncherCreationPolicy == kubeflow.LauncherCreationPolicyWaitForWorkersReady &&
		(job.IsSuspended() || !allWorkersReady(job, workers)) {
		return true
	}
	switch job.Spec.MPIImplementation {
	case kubeflow.MPIImplementationIntel, kubeflow.MPIImplementationMPICH:
		return job.IsSuspended() || !allWorkersAddressed(job, workers)
	}
	return false
}

// allWorkersAddressed says whether every worker pod exists and has an IP.
func allWorkersAddressed(job *kubeflow.MPIJob, workers []corev1.Pod) bool {
	n := 0
	for i := range workers {
		if workers[i].Status.PodIP != "" && workers[i].DeletionTimestamp == nil {
			n++
		}
	}
	return n >= int(job.Workers())
}

// allWorkersRunning says whether every worker runs (and is not going
// away): discover_hosts.sh then lists them all.
func allWorkersRunning(job *kubeflow.MPIJob, workers []corev1.Pod) bool {
	n := 0
	for i := range workers {
		if workers[i].Status.Phase == corev1.PodRunning && workers[i].DeletionTimestamp == nil {
			n++
		}
	}
	return n == int(job.Workers())
}

func allWorkersReady(job *kubeflow.MPIJob, workers []corev1.Pod) bool {
	ready := 0
	for i := range workers {
		for _, c := range workers[i].Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	return ready == int(job.Workers())
}

func isJobFinished(j *batchv1.Job) bool {
	return jobConditionTrue(j, batchv1.JobComplete) || jobConditionTrue(j, batchv1.JobFailed)
}

func jobConditionTrue(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// deleteWorkers deletes, in one request, the workers that match: a
// DeleteCollection by the job's worker labels (narrowed by fieldSelector,
// e.g. to pods not yet finished). It does nothing while earlier deletions
// are still on their way to the cache.
func (r *Reconciler) deleteWorkers(ctx context.Context, s *state, match func(*corev1.Pod) bool, fieldSelector fields.Selector) error {
	var targets []types.UID
	for i := range s.workers {
		p := &s.workers[i]
		if p.DeletionTimestamp == nil && match(p) && !r.expect.deletePending(s.key, p.UID) {
			targets = append(targets, p.UID)
		}
	}
	if len(targets) == 0 {
		return nil
	}
	opts := []client.DeleteAllOfOption{
		client.InNamespace(s.job.Namespace),
		client.MatchingLabels(roleLabels(s.job, kubeflow.RoleWorker)),
	}
	if fieldSelector != nil {
		opts = append(opts, client.MatchingFieldsSelector{Selector: fieldSelector})
	}
	if err := r.Client.DeleteAllOf(ctx, &corev1.Pod{}, opts...); err != nil {
		return err
	}
	for _, uid := range targets {
		r.expect.expectDelete(s.key, uid, s.now.Time)
	}
	return nil
}

// withoutCounts is a status without the parts that change with every pod
// event (replica counts), to tell essential status changes from counts.
func withoutCounts(st kubeflow.JobStatus) kubeflow.JobStatus {
	st.ReplicaStatuses = nil
	return st
}
