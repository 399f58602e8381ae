package platform

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/component"
)

// Condition reasons.
const (
	ReasonReady             = "Ready"
	ReasonProgressing       = "Progressing"
	ReasonMissingDependency = "MissingDependency"
	ReasonApplyFailed       = "ApplyFailed"
)

// +kubebuilder:rbac:groups=platform.mpijob.io,resources=mpijobplatforms,verbs=get;list;watch
// +kubebuilder:rbac:groups=platform.mpijob.io,resources=mpijobplatforms/status,verbs=get;update;patch
// Every object the platform applies names the MPIJobPlatform as its owner
// with blockOwnerDeletion, which OwnerReferencesPermissionEnforcement (on by
// default in OpenShift) allows only to those who may update its finalizers.
// +kubebuilder:rbac:groups=platform.mpijob.io,resources=mpijobplatforms/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch
// The operator's /metrics, like the controller's, answers only clients the
// API server authenticates and authorizes (--metrics-secure).
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconciler reconciles the MPIJobPlatform named default: every component,
// in order, renders its objects, which are applied (only when they differ
// from the cluster) and garbage-collected by label; then each component's
// readiness sets <Component>Ready, summarised by Ready and Degraded.
type Reconciler struct {
	Client     client.Client // writes
	Reader     client.Reader // the platform cache: objects labelled managed-by mpijob-platform, namespaces, CRDs
	Cache      cache.Cache
	Scheme     *runtime.Scheme
	Mapper     meta.RESTMapper
	Recorder   events.EventRecorder
	Components []component.Component
	// Namespace, Image and LocalWebhookURL are passed to components.
	Namespace, Image, LocalWebhookURL string

	ctrl     controller.Controller
	mu       sync.Mutex
	watching map[schema.GroupVersionKind]bool
}

// NewCache is the platform's own cache: only objects it labels, plus the
// MPIJobPlatform, namespaces and CRDs. It is separate from the MPIJob
// controller's cache, which keeps only MPIJob children.
func NewCache(mgr ctrl.Manager) (cache.Cache, error) {
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme:               mgr.GetScheme(),
		Mapper:               mgr.GetRESTMapper(),
		DefaultLabelSelector: labels.SelectorFromSet(labels.Set{component.ManagedByLabel: component.ManagedBy}),
		ByObject: map[client.Object]cache.ByObject{
			&platformv1.MPIJobPlatform{}:                {Label: labels.Everything()},
			&corev1.Namespace{}:                         {Label: labels.Everything()},
			&apiextensionsv1.CustomResourceDefinition{}: {Label: labels.Everything()},
			// The ClusterRoles that ship with the operator (the rbac
			// component reports whether they are installed).
			&rbacv1.ClusterRole{}: {Label: labels.SelectorFromSet(labels.Set{component.PartOfLabel: component.PartOf})},
		},
	})
	if err != nil {
		return nil, err
	}
	return c, mgr.Add(c)
}

// SetupWithManager watches the MPIJobPlatform, namespaces, CRDs and every
// kind the components create; kinds whose CRD is absent are watched once
// it appears.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	c, err := controller.New("mpijobplatform", mgr, controller.Options{Reconciler: r, MaxConcurrentReconciles: 1})
	if err != nil {
		return err
	}
	r.ctrl, r.watching = c, map[schema.GroupVersionKind]bool{}
	toDefault := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: platformv1.DefaultName}}}
	})
	for _, obj := range []client.Object{&platformv1.MPIJobPlatform{}, &corev1.Namespace{}, &apiextensionsv1.CustomResourceDefinition{}, &rbacv1.ClusterRole{}} {
		if err := c.Watch(source.Kind(r.Cache, obj, toDefault)); err != nil {
			return err
		}
	}
	for _, comp := range r.Components {
		for _, gvk := range comp.Kinds() {
			if err := r.watch(gvk); err != nil && !isNoMatch(err) {
				return err
			}
		}
	}
	return nil
}

// watch starts watching a kind once; a kind without its CRD returns a
// no-match error and is retried on the next reconcile.
func (r *Reconciler) watch(gvk schema.GroupVersionKind) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watching[gvk] {
		return nil
	}
	if _, err := r.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
		return err
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	err := r.ctrl.Watch(source.Kind[client.Object](r.Cache, u, handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: platformv1.DefaultName}}}
	})))
	if err != nil {
		return err
	}
	r.watching[gvk] = true
	return nil
}

func isNoMatch(err error) bool { return meta.IsNoMatchError(err) }

// Reconcile brings every component to the spec and reports status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if req.Name != platformv1.DefaultName {
		return ctrl.Result{}, nil
	}
	p := &platformv1.MPIJobPlatform{}
	if err := r.Reader.Get(ctx, req.NamespacedName, p); err != nil {
		// Gone: its owner references garbage-collect every object.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if p.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	namespaces := &corev1.NamespaceList{}
	if err := r.Reader.List(ctx, namespaces); err != nil {
		return ctrl.Result{}, err
	}
	in := component.Inputs{Platform: p, Namespace: r.Namespace, Image: r.Image, LocalWebhookURL: r.LocalWebhookURL, Namespaces: namespaces.Items}

	status := p.Status.DeepCopy()
	status.ObservedGeneration = p.Generation
	status.Components = nil
	var failed []error
	changed := false
	for _, comp := range r.Components {
		cs, cond, wrote, err := r.reconcileComponent(ctx, p, comp, in)
		if err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", comp.Name(), err))
		}
		changed = changed || wrote
		status.Components = append(status.Components, cs)
		meta.SetStatusCondition(&status.Conditions, cond)
	}
	summarise(status)
	if !equality.Semantic.DeepEqual(&p.Status, status) {
		p.Status = *status
		if err := r.Client.Status().Update(ctx, p); err != nil {
			if apierrors.IsConflict(err) { // the cache was behind; the next pass sees the new object
				return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
			}
			return ctrl.Result{}, err
		}
	}
	if changed && len(failed) == 0 {
		// The change's watch events wake the next pass; this is the
		// fallback should one be coalesced away.
		return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
	}
	return ctrl.Result{}, errors.Join(failed...)
}

// reconcileComponent applies one component and judges it; changed says
// whether it wrote to the cluster.
func (r *Reconciler) reconcileComponent(ctx context.Context, p *platformv1.MPIJobPlatform, comp component.Component, in component.Inputs) (_ platformv1.ComponentStatus, _ metav1.Condition, changed bool, _ error) {
	state := comp.State(&p.Spec)
	cs := platformv1.ComponentStatus{Name: comp.Name(), ManagementState: state}
	cond := metav1.Condition{Type: comp.Name() + platformv1.ConditionSuffixReady, ObservedGeneration: p.Generation}
	missing := r.missingKinds(comp)

	var desired []*unstructured.Unstructured
	needed := map[schema.GroupKind]string{} // absent kinds the desired objects use
	if state == platformv1.Managed {
		objs, err := comp.Desired(in)
		if err != nil {
			cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonApplyFailed, err.Error()
			cs.Message = err.Error()
			return cs, cond, changed, err
		}
		for _, o := range objs {
			u, err := render(r.Scheme, p, comp.Key(), o)
			if err != nil {
				return cs, cond, changed, err
			}
			if what, absent := missing[u.GroupVersionKind().GroupKind()]; absent {
				if soft, ok := comp.(component.Soft); !ok || !soft.SoftKinds()[u.GroupVersionKind().GroupKind()] {
					needed[u.GroupVersionKind().GroupKind()] = what
				}
				continue
			}
			desired = append(desired, u)
		}
	}
	var res applyResult
	var err error
	if state != platformv1.Unmanaged { // Unmanaged leaves whatever exists alone
		res, err = r.applyAll(ctx, comp.Key(), comp.Kinds(), desired)
	}
	cs.Objects = int32(len(desired))
	changed = res.applied+res.deleted > 0
	if res.applied+res.deleted > 0 {
		r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, "Applied", "Apply", "%s: %d object(s) applied, %d deleted", comp.Name(), res.applied, res.deleted)
	}
	switch {
	case err != nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonApplyFailed, err.Error()
		cs.Message = err.Error()
		r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, ReasonApplyFailed, "Apply", "%s: %v", comp.Name(), err)
		return cs, cond, changed, err
	case state != platformv1.Managed:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, state, fmt.Sprintf("%s is %s", comp.Name(), state)
		if state == platformv1.Unmanaged {
			ready, msg, err := comp.Ready(ctx, r.Reader, in)
			if err != nil {
				return cs, cond, changed, err
			}
			cs.Ready, cs.Message = ready, msg
			if ready {
				cond.Status = metav1.ConditionTrue
			}
			cond.Message = msg
		}
		return cs, cond, changed, nil
	case len(needed) > 0:
		var need []string
		for gk, what := range needed {
			need = append(need, fmt.Sprintf("%s (%s)", what, gk))
		}
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonMissingDependency
		sort.Strings(need)
		cond.Message = "install " + strings.Join(need, ", ") + "; the component recovers by itself once it is there"
		cs.Message = cond.Message
		return cs, cond, changed, nil
	}
	if res.applied > 0 {
		// The cache this pass judges readiness from may not hold what it
		// has just written: judged now, a Deployment whose template was
		// just changed still looks rolled out, and the platform would say
		// Ready while half upgraded. A later pass, woken by the change's
		// own watch event, judges it.
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonProgressing
		cond.Message = fmt.Sprintf("%d object(s) changed; waiting for them to take effect", res.applied)
		cs.Message = cond.Message
		return cs, cond, changed, nil
	}
	ready, msg, err := comp.Ready(ctx, r.Reader, in)
	if err != nil {
		return cs, cond, changed, err
	}
	cs.Ready, cs.Message = ready, msg
	if ready {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, ReasonReady, msg
	} else {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonProgressing, msg
	}
	return cs, cond, changed, nil
}

// missingKinds are the component's optional kinds whose CRD is absent; it
// also starts watching those that are present.
func (r *Reconciler) missingKinds(comp component.Component) map[schema.GroupKind]string {
	opt, ok := comp.(component.Optional)
	missing := map[schema.GroupKind]string{}
	for _, gvk := range comp.Kinds() {
		err := r.watch(gvk)
		if err == nil || !isNoMatch(err) {
			continue
		}
		what := gvk.GroupKind().String()
		if ok {
			if w, found := opt.OptionalKinds()[gvk.GroupKind()]; found {
				what = w
			}
		}
		missing[gvk.GroupKind()] = what
	}
	return missing
}

// summarise sets Ready, Degraded and the phase from the components.
func summarise(st *platformv1.MPIJobPlatformStatus) {
	var notReady, degraded []string
	for _, c := range st.Components {
		cond := meta.FindStatusCondition(st.Conditions, c.Name+platformv1.ConditionSuffixReady)
		switch {
		case c.ManagementState == platformv1.Removed:
		case cond != nil && (cond.Reason == ReasonMissingDependency || cond.Reason == ReasonApplyFailed):
			degraded = append(degraded, c.Name+": "+cond.Message)
		case !c.Ready:
			notReady = append(notReady, c.Name+": "+c.Message)
		}
	}
	ready := metav1.Condition{Type: platformv1.ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonReady, Message: "every managed component is ready"}
	deg := metav1.Condition{Type: platformv1.ConditionDegraded, Status: metav1.ConditionFalse, Reason: ReasonReady, Message: "no component is degraded"}
	st.Phase = platformv1.PhaseReady
	if len(notReady)+len(degraded) > 0 {
		ready.Status, ready.Reason = metav1.ConditionFalse, ReasonProgressing
		ready.Message = strings.Join(append(degraded, notReady...), "; ")
		st.Phase = platformv1.PhaseProgressing
	}
	if len(degraded) > 0 {
		deg.Status, deg.Reason, deg.Message = metav1.ConditionTrue, "ComponentDegraded", strings.Join(degraded, "; ")
		ready.Reason = "ComponentDegraded"
		st.Phase = platformv1.PhaseDegraded
	}
	for _, c := range []*metav1.Condition{&ready, &deg} {
		c.ObservedGeneration = st.ObservedGeneration
		meta.SetStatusCondition(&st.Conditions, *c)
	}
}
