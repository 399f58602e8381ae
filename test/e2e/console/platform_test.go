package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mpijob-platform/mpijob-platform/console/backend"
	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

func init() {
	if err := platformv1.AddToScheme(framework.Scheme); err != nil {
		panic(err)
	}
}

// buildManager compiles the platform's one binary into the test's folder.
func buildManager(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "manager")
	build := exec.Command("go", "build", "-o", bin, "./operator/cmd/manager")
	build.Dir = filepath.Join("..", "..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the manager: %v\n%s", err, out)
	}
	return bin
}

// startManager runs the manager with args until the test ends; its log
// goes to the cluster's log folder as <name>.log.
func startManager(t *testing.T, bin, name string, args ...string) {
	t.Helper()
	logFile, err := os.Create(filepath.Join(env.Cluster.Dir, "logs", name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := env.ProductKubeconfig(args...)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_, _ = cmd.Process.Wait()
		logFile.Close()
	})
}

// The manager's --role=console serves the console: health, the front end
// and the API as the caller.
func TestManagerRoleConsole(t *testing.T) {
	tn := setUp(t)
	ports, err := cluster.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	startManager(t, buildManager(t), "manager-console", "--role=console", "--console-bind-address=127.0.0.1:"+strconv.Itoa(ports[0]))
	framework.Eventually(t, time.Minute, "the console role to answer /healthz", func(ctx context.Context) (bool, string, error) {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false, err.Error(), nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status, nil
	})
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/whoami", nil)
	req.Header.Set("X-Forwarded-Access-Token", tn.alice) // as oauth-proxy sends it
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var id backend.Identity
	if err := json.NewDecoder(resp.Body).Decode(&id); err != nil || resp.StatusCode != http.StatusOK || id.Username != tn.aliceUser {
		t.Errorf("whoami through the manager's console role: %d %+v %v, want %s", resp.StatusCode, id, err, tn.aliceUser)
	}
}

// The platform operator deploys the console when the MPIJobPlatform asks:
// a Deployment of the manager image with --role=console, its
// ServiceAccount (no RBAC) and Service, no Route without OpenShift, and
// ConsoleReady once kwok makes the pod Ready.
func TestPlatformDeploysConsole(t *testing.T) {
	setUp(t)
	const ns = "console-platform"
	adminCreate(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	startManager(t, buildManager(t), "manager-platform", "--role=platform", "--namespace="+ns,
		"--manager-image=example.invalid/mpijob-platform:e2e", "--metrics-bind-address=0", "--health-probe-bind-address=0")
	removed := platformv1.ComponentSpec{ManagementState: platformv1.Removed}
	p := &platformv1.MPIJobPlatform{ObjectMeta: metav1.ObjectMeta{Name: platformv1.DefaultName}, Spec: platformv1.MPIJobPlatformSpec{
		// Only the console: the other tests' webhooks stay as they are. This
		// file's tests run last (Go runs files in name order), so removing
		// the platform's user roles afterwards harms no one.
		MPIJobController: platformv1.MPIJobControllerSpec{ManagementState: platformv1.Removed, Replicas: 1, Workers: 16, SSHKeyType: "ecdsa"},
		Webhooks:         platformv1.WebhooksSpec{ManagementState: platformv1.Removed},
		Kueue:            platformv1.KueueSpec{ManagementState: platformv1.Removed},
		RBAC:             removed,
		NetworkPolicy:    removed,
		Monitoring:       removed,
		Console:          platformv1.ConsoleSpec{ManagementState: platformv1.Managed, Replicas: 1, AuthProxy: "None"},
	}}
	adminCreate(t, p)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), p) })

	framework.Eventually(t, 2*time.Minute, "ConsoleReady", func(ctx context.Context) (bool, string, error) {
		got := &platformv1.MPIJobPlatform{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(p), got); err != nil {
			return false, "", err
		}
		c := meta.FindStatusCondition(got.Status.Conditions, "ConsoleReady")
		if c == nil {
			return false, "no ConsoleReady yet", nil
		}
		return c.Status == metav1.ConditionTrue, c.Reason + ": " + c.Message, nil
	})
	d := &appsv1.Deployment{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "mpijob-console"}, d); err != nil {
		t.Fatal(err)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "example.invalid/mpijob-platform:e2e" || !slices.Contains(c.Args, "--role=console") || d.Spec.Template.Spec.ServiceAccountName != "mpijob-console" {
		t.Errorf("console Deployment: image %s args %v service account %s", c.Image, c.Args, d.Spec.Template.Spec.ServiceAccountName)
	}
	for _, o := range []client.Object{&corev1.Service{}, &corev1.ServiceAccount{}} {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "mpijob-console"}, o); err != nil {
			t.Errorf("%T mpijob-console: %v", o, err)
		}
	}
	// The console's ServiceAccount may list and watch MPIJobs (its job
	// index) and nothing else: everything else it does with its callers'
	// tokens.
	for _, tc := range []struct {
		attr    authorizationv1.ResourceAttributes
		allowed bool
	}{
		{authorizationv1.ResourceAttributes{Verb: "list", Group: "kubeflow.org", Resource: "mpijobs"}, true},
		{authorizationv1.ResourceAttributes{Verb: "watch", Group: "kubeflow.org", Resource: "mpijobs"}, true},
		{authorizationv1.ResourceAttributes{Namespace: ns, Verb: "get", Group: "kubeflow.org", Resource: "mpijobs"}, false},
		{authorizationv1.ResourceAttributes{Namespace: ns, Verb: "create", Group: "kubeflow.org", Resource: "mpijobs"}, false},
		{authorizationv1.ResourceAttributes{Namespace: ns, Verb: "get", Resource: "pods", Subresource: "log"}, false},
		{authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods"}, false},
		{authorizationv1.ResourceAttributes{Verb: "list", Resource: "secrets"}, false},
	} {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "system:serviceaccount:" + ns + ":mpijob-console", Groups: []string{"system:serviceaccounts", "system:authenticated"}, ResourceAttributes: &tc.attr}}
		res, err := env.Clientset.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status.Allowed != tc.allowed {
			t.Errorf("the console's ServiceAccount may %s %s %s: %t, want %t", tc.attr.Verb, tc.attr.Resource, tc.attr.Subresource, res.Status.Allowed, tc.allowed)
		}
	}

	// Removed again: the component's objects go.
	got := &platformv1.MPIJobPlatform{}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(p), got); err != nil {
		t.Fatal(err)
	}
	got.Spec.Console.ManagementState = platformv1.Removed
	if err := env.Client.Update(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, time.Minute, "the console Deployment to be removed", func(ctx context.Context) (bool, string, error) {
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "mpijob-console"}, &appsv1.Deployment{})
		return apierrors.IsNotFound(err), fmt.Sprint(err), client.IgnoreNotFound(err)
	})
}
