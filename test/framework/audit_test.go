package framework

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestForbiddenRequests(t *testing.T) {
	const ctrl = "system:serviceaccount:mpijob-system:mpijob-controller"
	log := `{"verb":"deletecollection","requestURI":"/api/v1/namespaces/demo/pods","user":{"username":"` + ctrl + `"},"objectRef":{"resource":"pods","namespace":"demo"},"responseStatus":{"code":403,"message":"pods is forbidden: cannot deletecollection"}}
{"verb":"deletecollection","requestURI":"/api/v1/namespaces/demo/pods","user":{"username":"` + ctrl + `"},"objectRef":{"resource":"pods","namespace":"demo"},"responseStatus":{"code":403,"message":"pods is forbidden: cannot deletecollection"}}
{"verb":"create","requestURI":"/api/v1/namespaces/demo/pods","user":{"username":"` + ctrl + `"},"objectRef":{"resource":"pods","namespace":"demo"},"responseStatus":{"code":403,"message":"pods \"w\" is forbidden: exceeded quota: q"}}
{"verb":"create","requestURI":"/api/v1/namespaces/gone/pods","user":{"username":"` + ctrl + `"},"objectRef":{"resource":"pods","namespace":"gone"},"responseStatus":{"code":403,"message":"pods \"w\" is forbidden: unable to create new content in namespace gone because it is being terminated"}}
{"verb":"patch","requestURI":"/apis/platform.mpijob.io/v1alpha1/mpijobplatforms/default/status","user":{"username":"system:serviceaccount:mpijob-system:mpijob-platform-operator"},"objectRef":{"resource":"mpijobplatforms","subresource":"status","apiGroup":"platform.mpijob.io","name":"default"},"responseStatus":{"code":403,"message":"no"}}
{"verb":"get","requestURI":"/api/v1/namespaces/team/secrets","user":{"username":"system:serviceaccount:team:alice"},"objectRef":{"resource":"secrets","namespace":"team"},"responseStatus":{"code":403,"message":"alice may not"}}
{"verb":"list","requestURI":"/apis/kubeflow.org/v2beta1/mpijobs","requestReceivedTimestamp":"2026-12-07T19:31:34.378818Z","user":{"username":"` + ctrl + `"},"objectRef":{"resource":"mpijobs","apiGroup":"kubeflow.org"},"responseStatus":{"code":403,"message":"mpijobs.kubeflow.org is forbidden: User cannot list"}}
{"verb":"get","requestURI":"/api/v1/namespaces/demo/pods/w","user":{"username":"` + ctrl + `"},"objectRef":{"resource":"pods","namespace":"demo","name":"w"},"responseStatus":{"code":200}}
`
	path := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		users []string
		want  []string
	}{
		"the controller's refusals, once each, quota and namespace deletion aside": {
			users: []string{ctrl},
			want:  []string{ctrl + `: deletecollection pods (namespace "demo", name ""): pods is forbidden: cannot deletecollection`},
		},
		"subresources and groups are named": {
			users: []string{"system:serviceaccount:mpijob-system:mpijob-platform-operator"},
			want:  []string{`system:serviceaccount:mpijob-system:mpijob-platform-operator: patch mpijobplatforms/status.platform.mpijob.io (namespace "", name "default"): no`},
		},
		"test users' refusals are not the product's": {
			users: []string{"system:serviceaccount:mpijob-system:mpijob-console"},
		},
		"no product started, nothing to check": {},
	} {
		t.Run(name, func(t *testing.T) {
			// The API server restarted around 19:31:34 and refused while
			// its authorizer warmed up.
			r := &restarts{}
			r.add(time.Date(2026, 12, 7, 19, 31, 30, 0, time.UTC), time.Date(2026, 12, 7, 19, 31, 36, 0, time.UTC))
			got, err := forbiddenRequests(path, tc.users, r.authorizerWarming)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpEmptyAsNil); diff != "" {
				t.Errorf("forbiddenRequests (-want +got):\n%s", diff)
			}
		})
	}
}

var cmpEmptyAsNil = cmp.FilterValues(func(a, b []string) bool { return len(a) == 0 && len(b) == 0 }, cmp.Ignore())

func TestFlagValue(t *testing.T) {
	args := []string{"--role=platform", "--namespace=a", "--namespace=b"}
	for name, tc := range map[string]struct{ flag, fallback, want string }{
		"set":                   {"role", "x", "platform"},
		"last one wins":         {"namespace", "x", "b"},
		"unset":                 {"kubeconfig", "fallback", "fallback"},
		"prefix is not a match": {"name", "x", "x"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := flagValue(args, tc.flag, tc.fallback); got != tc.want {
				t.Errorf("flagValue(%q) = %q, want %q", tc.flag, got, tc.want)
			}
		})
	}
}

func TestExercised(t *testing.T) {
	const ctrl = "system:serviceaccount:mpijob-system:mpijob-controller"
	log := `{"verb":"deletecollection","user":{"username":"` + ctrl + `"},"objectRef":{"resource":"pods","namespace":"a"},"responseStatus":{"code":200}}
{"verb":"create","user":{"username":"` + ctrl + `"},"objectRef":{"resource":"pods","namespace":"a"},"responseStatus":{"code":201}}
{"verb":"create","user":{"username":"` + ctrl + `"},"objectRef":{"resource":"pods","namespace":"a"},"responseStatus":{"code":409}}
{"verb":"update","user":{"username":"` + ctrl + `"},"objectRef":{"resource":"mpijobs","subresource":"status","apiGroup":"kubeflow.org"},"responseStatus":{"code":200}}
{"verb":"patch","user":{"username":"` + ctrl + `"},"objectRef":{"resource":"secrets"},"responseStatus":{"code":403}}
{"verb":"get","user":{"username":"system:serviceaccount:team:alice"},"objectRef":{"resource":"pods"},"responseStatus":{"code":200}}
`
	path := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := exercised(path, []string{ctrl})
	if err != nil {
		t.Fatal(err)
	}
	want := Exercised{"mpijob-controller": {
		"core/pods":                   {"create", "deletecollection"},
		"kubeflow.org/mpijobs/status": {"update"},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("exercised (-want +got):\n%s", diff)
	}
}
