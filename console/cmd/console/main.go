// Command console serves the MPIJob platform's web console: the REST API
// of console/backend under /api/v1 and the React front end. Every request
// acts as its caller (Authorization: Bearer), so run it behind an
// authenticating proxy (oauth-proxy, kube-rbac-proxy) in a cluster; the
// kubeconfig only says where the apiserver is and which CA it has. In a
// cluster the platform runs the same server as the manager's
// --role=console.
//
//	go run ./console/cmd/console --kubeconfig ~/.kube/config
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/mpijob-platform/mpijob-platform/console/server"
)

// version is set by the build (-ldflags -X main.version=...).
var version = "dev"

func main() {
	var o server.Options
	var kubeconfig string
	o.Bind(flag.CommandLine, "")
	flag.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig naming the apiserver and its CA (its credentials are not used); default $KUBECONFIG, then in-cluster")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}
	o.Version = version
	if err := run(kubeconfig, o); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" && os.Getenv("KUBECONFIG") == "" {
		if cfg, err := rest.InClusterConfig(); err == nil {
			return cfg, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
}

func run(kubeconfig string, o server.Options) error {
	cfg, err := restConfig(kubeconfig)
	if err != nil {
		return fmt.Errorf("finding the apiserver (--kubeconfig): %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// The manager's logger family (logr over zap), JSON like the manager's.
	return server.Run(ctx, cfg, o, zap.New().WithName("console"))
}
