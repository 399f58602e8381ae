package backend

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// accessTTL is how long an answer of the API server to "may this caller
// list MPIJobs here" is reused. A revoked role stops the rows from the
// index after at most this long (a live-update stream is checked again at
// every change).
const accessTTL = 30 * time.Second

var mpijobsResource = schema.GroupResource{Group: kubeflow.GroupName, Resource: "mpijobs"}

// accessCache remembers, per caller's token (hashed) and namespace, whether
// they may list MPIJobs there.
type accessCache struct {
	mu      sync.Mutex
	answers map[accessKey]accessAnswer
}

type accessKey struct {
	token     [sha256.Size]byte
	namespace string
}

type accessAnswer struct {
	allowed bool
	reason  string
	at      time.Time
}

// mayList asks the API server, with the caller's own token, whether they
// may list MPIJobs in namespace ("" every namespace), and returns a
// Forbidden error when not.
func (a *accessCache) mayList(ctx context.Context, kube kubernetes.Interface, token, namespace string) error {
	key := accessKey{token: sha256.Sum256([]byte(token)), namespace: namespace}
	now := time.Now()
	a.mu.Lock()
	ans, ok := a.answers[key]
	a.mu.Unlock()
	if !ok || now.Sub(ans.at) > accessTTL {
		status, err := reviewMPIJobs(ctx, kube, "list", namespace)
		if err != nil {
			return err
		}
		ans = accessAnswer{allowed: status.Allowed, reason: status.Reason, at: now}
		a.mu.Lock()
		if a.answers == nil || len(a.answers) > 10000 {
			a.answers = map[accessKey]accessAnswer{} // callers come and go; start afresh
		}
		a.answers[key] = ans
		a.mu.Unlock()
	}
	if ans.allowed {
		return nil
	}
	where := "in the namespace " + namespace
	if namespace == "" {
		where = "at the cluster scope (every namespace)"
	}
	msg := fmt.Sprintf("you may not list resource %q in API group %q %s", mpijobsResource.Resource, mpijobsResource.Group, where)
	if ans.reason != "" {
		msg += ": " + ans.reason
	}
	return apierrors.NewForbidden(mpijobsResource, "", errors.New(msg))
}

// mayWatchMPIJobs says whether cfg's identity may list and watch MPIJobs in
// every namespace.
func mayWatchMPIJobs(ctx context.Context, cfg *rest.Config) (bool, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return false, err
	}
	for _, verb := range []string{"list", "watch"} {
		status, err := reviewMPIJobs(ctx, kube, verb, "")
		if err != nil || !status.Allowed {
			return false, err
		}
	}
	return true, nil
}

// reviewMPIJobs asks the API server whether kube's identity may verb
// MPIJobs in namespace ("" every namespace): a SelfSubjectAccessReview.
func reviewMPIJobs(ctx context.Context, kube kubernetes.Interface, verb, namespace string) (authorizationv1.SubjectAccessReviewStatus, error) {
	review, err := kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: namespace, Verb: verb, Group: mpijobsResource.Group, Resource: mpijobsResource.Resource,
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		return authorizationv1.SubjectAccessReviewStatus{}, err
	}
	return review.Status, nil
}
