package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mpijob-platform/mpijob-platform/console/backend"
	"github.com/mpijob-platform/mpijob-platform/console/frontend"
	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// frontendDir is console/frontend, from this package's directory.
var frontendDir = filepath.Join("..", "..", "..", "console", "frontend")

// chromiumPath finds the browser: $CHROMIUM, else Debian's chromium.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found for the browser e2e test: apt-get install chromium (Debian's package), or set CHROMIUM to a Chromium binary")
	return ""
}

// npmRun runs npm in console/frontend and fails the test with its output.
func npmRun(t *testing.T, args ...string) {
	t.Helper()
	start := time.Now()
	cmd := exec.Command("npm", args...)
	cmd.Dir = frontendDir
	cmd.Env = append(os.Environ(), "CI=true", "NO_COLOR=1", "npm_config_fund=false", "npm_config_audit=false", "npm_config_update_notifier=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("npm %v: %v\n%s", args, err, out)
	}
	t.Logf("npm %v: %s", args, time.Since(start).Round(100*time.Millisecond))
}

// builtFrontend installs the front end's locked dependencies when
// playwright-core is missing and builds it, so the test drives the code of
// this tree; it returns web/dist.
func builtFrontend(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node not found: install Node.js 20.19 or newer (the console's browser test runs playwright-core)")
	}
	if _, err := os.Stat(filepath.Join(frontendDir, "node_modules", "playwright-core", "package.json")); err != nil {
		npmRun(t, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	}
	if os.Getenv("CONSOLE_E2E_SKIP_BUILD") == "" {
		npmRun(t, "run", "build")
	}
	dist := filepath.Join(frontendDir, "web", "dist")
	if _, err := os.Stat(filepath.Join(dist, "index.html")); err != nil {
		t.Fatalf("no built front end: %v", err)
	}
	return dist
}

// browserReport is what console/frontend/e2e/console.mjs writes.
type browserReport struct {
	Scenarios []struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		MS    int64  `json:"ms"`
		Error string `json:"error"`
	} `json:"scenarios"`
	Axe []struct {
		Page       string `json:"page"`
		Violations []struct {
			ID      string   `json:"id"`
			Impact  string   `json:"impact"`
			Help    string   `json:"help"`
			Nodes   int      `json:"nodes"`
			Targets []string `json:"targets"`
		} `json:"violations"`
	} `json:"axe"`
	Screenshots  []string `json:"screenshots"`
	Diagnosis    string   `json:"diagnosis"`
	QuotaMessage string   `json:"quotaMessage"`
	LogsLauncher string   `json:"logs-launcher"`
	LogsWorker   string   `json:"logs-worker-0"`
}

// TestBrowser drives the console in real headless Chromium as alice, bob
// and the admin: the wizard, a job to Succeeded, logs, a failed job's
// diagnosis, the quota message before submission, team isolation, and
// axe-core on every page. Screenshots go to .cache/screenshots/console-*.png,
// or to CONSOLE_SCREENSHOTS (make console-screenshots: docs/images).
func TestBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	tn := setUp(t)
	dist := builtFrontend(t)
	ctx := context.Background()

	srv := httptest.NewServer(backend.New(backend.Options{
		Clients: backend.NewClientFactory(env.Config),
		Static:  frontend.Handler(frontend.Dir(dist)),
		Version: "e2e",
	}).Handler())
	defer srv.Close()

	// Alice also edits a small namespace whose ResourceQuota allows 2 GPUs.
	quotaNS := "console-team-a-small"
	adminCreate(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: quotaNS}})
	adminCreate(t, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: quotaNS, Name: "alice-edit"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: tn.teamA, Name: "alice"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
	})
	adminCreate(t, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: quotaNS, Name: "gpus"}, Spec: corev1.ResourceQuotaSpec{
		Hard: corev1.ResourceList{"requests.nvidia.com/gpu": resource.MustParse("2")}}})

	// A job that fails (its launcher is OOMKilled) and one of bob's.
	failed := framework.SmallMPIJob(tn.teamA, "browser-oom")
	failed.Spec.RunPolicy.BackoffLimit = ptr.To[int32](0)
	launcher := &failed.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template
	launcher.Annotations[cluster.FinishAfterAnnotation] = "1s"
	launcher.Annotations[cluster.ExitCodeAnnotation] = "137"
	launcher.Annotations[cluster.ReasonAnnotation] = "OOMKilled"
	adminCreate(t, failed)
	adminCreate(t, framework.SmallMPIJob(tn.teamB, "bob-secret"))
	const wizardJob = "browser-wizard"
	t.Cleanup(func() {
		for _, k := range []types.NamespacedName{{Namespace: tn.teamA, Name: failed.Name}, {Namespace: tn.teamB, Name: "bob-secret"}, {Namespace: tn.teamA, Name: wizardJob}} {
			_ = env.Client.Delete(context.Background(), &kubeflow.MPIJob{ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: k.Name}})
		}
	})
	framework.Eventually(t, 2*time.Minute, "the OOMKilled job to fail", func(ctx context.Context) (bool, string, error) {
		j := &kubeflow.MPIJob{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(failed), j); err != nil {
			return false, "", err
		}
		for _, c := range j.Status.Conditions {
			if c.Type == kubeflow.JobFailed && c.Status == corev1.ConditionTrue {
				return true, c.Message, nil
			}
		}
		return false, "not Failed yet", nil
	})

	// kwok runs no programs: once the wizard job's launcher runs, "its
	// program" finishes after 10 s (time to read the logs of a running
	// job), as a devcluster annotation says.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		finishLaunchers(ctx, stop, tn.teamA, wizardJob)
	}()
	defer func() { close(stop); wg.Wait() }()

	shots := os.Getenv("CONSOLE_SCREENSHOTS")
	if shots == "" {
		shots, _ = filepath.Abs(filepath.Join("..", "..", "..", ".cache", "screenshots"))
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	reportFile := filepath.Join(t.TempDir(), "report.json")
	script, _ := filepath.Abs(filepath.Join(frontendDir, "e2e", "console.mjs"))
	runCtx, cancel := context.WithTimeout(ctx, 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(runCtx, "node", script)
	cmd.Dir = frontendDir
	cmd.Env = append(os.Environ(),
		"CONSOLE_URL="+srv.URL, "CHROMIUM="+chromium, "SCREENSHOTS="+shots, "REPORT="+reportFile,
		"ALICE_TOKEN="+tn.alice, "BOB_TOKEN="+tn.bob, "ROOT_TOKEN="+tn.root,
		"TEAM_A="+tn.teamA, "TEAM_B="+tn.teamB, "QUOTA_NS="+quotaNS,
		"FAILED_JOB="+failed.Name, "BOB_JOB=bob-secret", "WIZARD_JOB="+wizardJob,
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("browser run (%s):\n%s", time.Since(start).Round(time.Millisecond), out.String())

	data, err := os.ReadFile(reportFile)
	if err != nil {
		t.Fatalf("the browser script wrote no report (%v): %v", runErr, err)
	}
	var rep browserReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("decoding the report: %v", err)
	}
	if len(rep.Scenarios) < 11 {
		t.Errorf("%d scenarios ran, want 11", len(rep.Scenarios))
	}
	for _, s := range rep.Scenarios {
		if !s.OK {
			t.Errorf("scenario %q failed after %d ms: %s", s.Name, s.MS, s.Error)
		}
	}
	for _, a := range rep.Axe {
		for _, v := range a.Violations {
			msg := a.Page + ": axe " + v.Impact + " " + v.ID + " (" + v.Help + ") on " + strings.Join(v.Targets, ", ")
			if v.Impact == "serious" || v.Impact == "critical" {
				t.Error(msg)
			} else {
				t.Log(msg)
			}
		}
	}
	if !strings.Contains(rep.Diagnosis, "Diagnosis: ") || !strings.Contains(rep.Diagnosis, "launcher") {
		t.Errorf("the failed job's diagnosis does not say what failed: %q", rep.Diagnosis)
	}
	t.Logf("diagnosis: %s\nquota message: %s\nlauncher logs: %s\nworker logs: %s\n%d screenshots in %s",
		rep.Diagnosis, rep.QuotaMessage, rep.LogsLauncher, rep.LogsWorker, len(rep.Screenshots), shots)
	if runErr != nil && !t.Failed() {
		t.Errorf("the browser script failed: %v", runErr)
	}
}

// finishLaunchers annotates the running launcher pods of job so that kwok
// ends them with exit code 0 after 10 s, until stop closes.
func finishLaunchers(ctx context.Context, stop <-chan struct{}, ns, job string) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		pods := &corev1.PodList{}
		if err := env.Client.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{
			kubeflow.JobNameLabel: job, kubeflow.JobRoleLabel: kubeflow.RoleLauncher,
		}); err != nil {
			continue
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Status.Phase != corev1.PodRunning || p.Annotations[cluster.FinishAfterAnnotation] != "" {
				continue
			}
			patch := []byte(`{"metadata":{"annotations":{"` + cluster.FinishAfterAnnotation + `":"10s"}}}`)
			_ = env.Client.Patch(ctx, p, client.RawPatch(types.MergePatchType, patch))
		}
	}
}
