package main

import (
	"runtime/debug"

	ctrl "sigs.k8s.io/controller-runtime"

	consoleserver "github.com/mpijob-platform/mpijob-platform/console/server"
)

// runConsole serves the web console. It needs only the apiserver's address
// and CA from the in-cluster config (or --kubeconfig): every request acts
// with its caller's token, never the pod's.
func runConsole(o consoleserver.Options) error {
	if o.CookieSecretFile != "" { // the pod's init container for oauth-proxy
		return consoleserver.WriteCookieSecret(o.CookieSecretFile)
	}
	restCfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		o.Version = bi.Main.Version
	}
	return consoleserver.Run(ctrl.SetupSignalHandler(), restCfg, o, ctrl.Log.WithName("console"))
}
