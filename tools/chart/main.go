// Command chart installs, upgrades, uninstalls and packages the
// mpijob-platform Helm chart with Helm's own library, for machines without
// a helm binary (make demo, make helm-package). With helm installed,
// `helm install mpijob-platform charts/mpijob-platform` does the same.
//
//	go run ./tools/chart install   [-n mpijob-system] [-f values.yaml] [--kubeconfig FILE]
//	go run ./tools/chart uninstall [-n mpijob-system]
//	go run ./tools/chart package   [--out DIR]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/storage/driver"

	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
	"github.com/mpijob-platform/mpijob-platform/tools/packaging"
)

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return usageError{"usage: chart install|uninstall|package [flags]"}
	}
	fs := flag.NewFlagSet("chart "+args[0], flag.ContinueOnError)
	ns := fs.String("n", "mpijob-system", "namespace of the release")
	release := fs.String("release", "mpijob-platform", "release name")
	valuesFile := fs.String("f", "", "values file")
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig")
	out := fs.String("out", "", "package: output folder (default .cache/dist)")
	timeout := fs.Duration("timeout", 3*time.Minute, "how long to wait for the release's resources")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err.Error()}
	}
	repo, err := cluster.FindRepoRoot()
	if err != nil {
		return err
	}
	chrt, err := loader.LoadDir(filepath.Join(repo, packaging.ChartDir))
	if err != nil {
		return err
	}
	if args[0] == "package" {
		if *out == "" {
			*out = filepath.Join(cluster.DefaultCacheDir(repo), "dist")
		}
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
		path, err := chartutil.Save(chrt, *out)
		if err != nil {
			return err
		}
		fmt.Println("packaged", path)
		return nil
	}

	settings := cli.New()
	settings.KubeConfig = *kubeconfig
	cfg := &action.Configuration{}
	if err := cfg.Init(settings.RESTClientGetter(), *ns, "secret", func(string, ...any) {}); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	values := map[string]any{}
	if *valuesFile != "" {
		if values, err = chartutil.ReadValuesFile(*valuesFile); err != nil {
			return err
		}
	}
	switch args[0] {
	case "install": // installs, or upgrades an existing release
		if _, err := action.NewHistory(cfg).Run(*release); errors.Is(err, driver.ErrReleaseNotFound) {
			install := action.NewInstall(cfg)
			install.ReleaseName, install.Namespace, install.CreateNamespace, install.Timeout = *release, *ns, true, *timeout
			rel, err := install.RunWithContext(ctx, chrt, values)
			if err != nil {
				return err
			}
			fmt.Printf("installed %s %s in %s (revision %d)\n\n%s\n", rel.Name, rel.Chart.Metadata.Version, rel.Namespace, rel.Version, rel.Info.Notes)
			return nil
		}
		upgrade := action.NewUpgrade(cfg)
		upgrade.Namespace, upgrade.Timeout = *ns, *timeout
		rel, err := upgrade.RunWithContext(ctx, *release, chrt, values)
		if err != nil {
			return err
		}
		fmt.Printf("upgraded %s to %s in %s (revision %d)\n", rel.Name, rel.Chart.Metadata.Version, rel.Namespace, rel.Version)
		return nil
	case "uninstall":
		res, err := action.NewUninstall(cfg).Run(*release)
		if err != nil {
			return err
		}
		fmt.Printf("uninstalled %s; the CRDs and every MPIJob stay (%s)\n", *release, res.Info)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q: install, uninstall or package", args[0])}
}
