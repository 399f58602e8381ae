// Package metricsauth guards the managers' /metrics with the API server's
// own authentication and authorization, as a cluster's components guard
// theirs: a scraper presents a bearer token, the API server says who it is
// (TokenReview) and whether it may GET the path (SubjectAccessReview).
//
// controller-runtime's filters.WithAuthenticationAndAuthorization does the
// same, but answers 500 to a token the API server rejects with a reason,
// and logs each such scrape as an error. Here every authentication failure
// is a 401, as the API server itself answers, and only the API server
// being unreachable for authorization is a 500.
package metricsauth

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	authenticationv1 "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1 "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// retry is how the reviews are retried while the API server does not
// answer: five tries over about 5 s.
var retry = wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}

// Filter is a metricsserver.Options.FilterProvider. Answers are cached:
// an identity for a minute, an allow for five, a deny for 30 s, so a
// Prometheus scraping every 30 s costs the API server no review at all
// most of the time.
func Filter(config *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	authn, err := authenticationv1.NewForConfigAndClient(config, httpClient)
	if err != nil {
		return nil, err
	}
	authz, err := authorizationv1.NewForConfigAndClient(config, httpClient)
	if err != nil {
		return nil, err
	}
	who, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:                &apiserver.AnonymousAuthConfig{Enabled: false},
		CacheTTL:                 time.Minute,
		TokenAccessReviewClient:  authn,
		TokenAccessReviewTimeout: 10 * time.Second,
		WebhookRetryBackoff:      &retry,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("metrics authentication: %w", err)
	}
	may, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: authz,
		AllowCacheTTL:             5 * time.Minute,
		DenyCacheTTL:              30 * time.Second,
		WebhookRetryBackoff:       &retry,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("metrics authorization: %w", err)
	}
	return guard(who, may), nil
}

// authorizes is the part of an authorizer.Authorizer guard uses.
type authorizes interface {
	Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error)
}

// guard is Filter with its reviewers given.
func guard(who authenticator.Request, may authorizes) metricsserver.Filter {
	return func(log logr.Logger, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			res, ok, err := who.AuthenticateRequest(req)
			if err != nil || !ok {
				log.V(2).Info("metrics scrape refused: not authenticated", "remote", req.RemoteAddr, "reason", fmt.Sprint(err))
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			attrs := authorizer.AttributesRecord{User: res.User, Verb: strings.ToLower(req.Method), Path: req.URL.Path}
			decision, reason, err := may.Authorize(req.Context(), attrs)
			if err != nil {
				log.Error(err, "metrics scrape: the API server did not answer the SubjectAccessReview", "user", res.User.GetName())
				http.Error(w, "authorization failed: the API server did not answer", http.StatusInternalServerError)
				return
			}
			if decision != authorizer.DecisionAllow {
				log.V(2).Info("metrics scrape refused: not authorized", "user", res.User.GetName(), "reason", reason)
				http.Error(w, fmt.Sprintf("Forbidden: %s may not %s %s", res.User.GetName(), attrs.Verb, attrs.Path), http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, req)
		}), nil
	}
}
