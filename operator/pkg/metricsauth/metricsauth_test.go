package metricsauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

type authn func(*http.Request) (*authenticator.Response, bool, error)

func (f authn) AuthenticateRequest(r *http.Request) (*authenticator.Response, bool, error) {
	return f(r)
}

type authz func(authorizer.Attributes) (authorizer.Decision, string, error)

func (f authz) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	return f(a)
}

func TestGuard(t *testing.T) {
	prometheus := &authenticator.Response{User: &user.DefaultInfo{Name: "system:serviceaccount:monitoring:prometheus"}}
	known := authn(func(*http.Request) (*authenticator.Response, bool, error) { return prometheus, true, nil })
	allow := authz(func(a authorizer.Attributes) (authorizer.Decision, string, error) {
		if a.GetVerb() != "get" || a.GetPath() != "/metrics" {
			t.Errorf("reviewed %s %s, want get /metrics", a.GetVerb(), a.GetPath())
		}
		return authorizer.DecisionAllow, "", nil
	})
	cases := map[string]struct {
		who  authenticator.Request
		may  authorizes
		want int
	}{
		"no token": {authn(func(*http.Request) (*authenticator.Response, bool, error) { return nil, false, nil }), allow, http.StatusUnauthorized},
		"a token the API server rejects": {authn(func(*http.Request) (*authenticator.Response, bool, error) {
			return nil, false, errors.New("token expired")
		}), allow, http.StatusUnauthorized},
		"allowed": {known, allow, http.StatusOK},
		"not allowed": {known, authz(func(authorizer.Attributes) (authorizer.Decision, string, error) {
			return authorizer.DecisionNoOpinion, "no RBAC", nil
		}), http.StatusForbidden},
		"the API server does not authorize": {known, authz(func(authorizer.Attributes) (authorizer.Decision, string, error) {
			return authorizer.DecisionNoOpinion, "", errors.New("timeout")
		}), http.StatusInternalServerError},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h, err := guard(tc.who, tc.may)(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("up 1\n")) }))
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			if rec.Code != tc.want {
				t.Errorf("status %d, want %d (%s)", rec.Code, tc.want, rec.Body.String())
			}
		})
	}
}
