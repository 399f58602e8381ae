package backend

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// Scheme knows every type the console reads or writes.
var Scheme = runtime.NewScheme()

func init() {
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, kubeflow.AddToScheme, kueue.AddToScheme} {
		if err := add(Scheme); err != nil {
			panic(err)
		}
	}
}

// Group versions of the other training job kinds the unified list shows
// when their CRDs are installed.
var (
	trainingV1 = schema.GroupVersion{Group: "kubeflow.org", Version: "v1"}
	trainerV1  = schema.GroupVersion{Group: "trainer.kubeflow.org", Version: "v1alpha1"}
)

// restMapper maps exactly the kinds the console uses. It is static, so a
// request costs no discovery round trips and needs no discovery rights.
func restMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for _, gvk := range []schema.GroupVersionKind{
		kubeflow.SchemeGroupVersionKind,
		{Version: "v1", Kind: "Pod"},
		{Version: "v1", Kind: "Event"},
		{Version: "v1", Kind: "ResourceQuota"},
		kueue.GroupVersion.WithKind("LocalQueue"),
		kueue.GroupVersion.WithKind("Workload"),
		trainingV1.WithKind("PyTorchJob"),
		trainingV1.WithKind("TFJob"),
		trainerV1.WithKind("TrainJob"),
	} {
		m.Add(gvk, meta.RESTScopeNamespace)
	}
	for _, gvk := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "Namespace"},
		kueue.GroupVersion.WithKind("ClusterQueue"),
		authorizationv1.SchemeGroupVersion.WithKind("SelfSubjectAccessReview"),
	} {
		m.Add(gvk, meta.RESTScopeRoot)
	}
	return m
}

// Clients act as one caller.
type Clients struct {
	// token is the caller's, for the answers the console remembers per
	// caller (access.go).
	token string
	// Client reads and writes MPIJobs, pods, events, quotas and Kueue
	// objects.
	Client client.Client
	// Kube streams logs, reviews access and discovers optional CRDs.
	Kube kubernetes.Interface
	// Warnings returns the apiserver's warning headers seen so far (the
	// admission webhooks' warnings of a dry run among them); nil when the
	// clients do not record them.
	Warnings func() []string
	// Pending reads a LocalQueue's pending workloads (Kueue's visibility
	// API) for queue positions; nil for none.
	Pending PendingLister
}

// ClientFactory builds the clients of the caller whose bearer token is
// given. Tests substitute fakes.
type ClientFactory func(token string) (*Clients, error)

// NewClientFactory returns a factory that talks to the apiserver of base
// (its host and CA) with nothing of base's own credentials: only the
// caller's token.
func NewClientFactory(base *rest.Config) ClientFactory {
	mapper := restMapper()
	anon := rest.AnonymousClientConfig(base)
	anon.QPS, anon.Burst = 100, 200
	return func(token string) (*Clients, error) {
		cfg := rest.CopyConfig(anon)
		cfg.BearerToken = token
		rec := &warningRecorder{}
		cfg.WarningHandlerWithContext = rec
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			return nil, fmt.Errorf("building an HTTP client: %w", err)
		}
		c, err := client.New(cfg, client.Options{Scheme: Scheme, Mapper: mapper, HTTPClient: hc})
		if err != nil {
			return nil, err
		}
		kube, err := kubernetes.NewForConfigAndClient(cfg, hc)
		if err != nil {
			return nil, err
		}
		return &Clients{Client: c, Kube: kube, Warnings: rec.list, Pending: restPendingLister(kube.Discovery().RESTClient())}, nil
	}
}

// warningRecorder keeps the apiserver's warnings of one request, once each.
type warningRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (w *warningRecorder) HandleWarningHeaderWithContext(_ context.Context, code int, _ string, text string) {
	if code != 299 || text == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.seen {
		if s == text {
			return
		}
	}
	w.seen = append(w.seen, text)
}

func (w *warningRecorder) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.seen...)
}

// bearerToken is the token of an "Authorization: Bearer ..." header, else
// of oauth-proxy's X-Forwarded-Access-Token (--pass-access-token), or ""
// when there is neither. Trusting the second header gives nothing away: a
// caller who sets it sends a token they already hold.
func bearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if ok && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(token) != "" {
		return strings.TrimSpace(token)
	}
	return strings.TrimSpace(r.Header.Get("X-Forwarded-Access-Token"))
}
