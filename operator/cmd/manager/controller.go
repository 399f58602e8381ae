package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	configv1alpha1 "github.com/mpijob-platform/mpijob-platform/operator/api/config/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/mpijob"
	mpijobwebhook "github.com/mpijob-platform/mpijob-platform/operator/internal/webhook"
	"github.com/mpijob-platform/mpijob-platform/operator/pkg/crdcheck"
)

// setupController adds the MPIJob controller and its metrics.
func setupController(mgr ctrl.Manager, cfg mpijob.Config, workers int) error {
	r := &mpijob.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder(mpijob.ControllerName),
		Config: cfg, Workers: workers,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	if err := metrics.Registry.Register(mpijob.NewPhaseCollector(mgr.GetClient())); err != nil {
		return err
	}
	go func() {
		<-mgr.Elected()
		mpijob.SetLeader(true)
	}()
	return nil
}

// checkMPIJobCRD refuses to start the controller on a cluster whose
// mpijobs.kubeflow.org CRD does not serve v2beta1 (training-operator v1's
// MPIJob), with an explanation instead of a watch that never syncs.
func checkMPIJobCRD(restCfg *rest.Config, scheme *runtime.Scheme) error {
	c, err := client.New(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return crdcheck.CheckMPIJobCRD(ctx, c)
}

// controllerConfig reads the --config file, or the defaults without one.
func controllerConfig(path string) (*configv1alpha1.ControllerConfiguration, error) {
	if path == "" {
		c := configv1alpha1.New()
		c.Default()
		return c, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	c, err := configv1alpha1.Load(data)
	if err != nil {
		return nil, fmt.Errorf("--config %s: %w", path, err)
	}
	return c, nil
}

// settings turns the configuration into what the controller and the
// webhooks run with, and refuses what would make broken children.
func settings(c *configv1alpha1.ControllerConfiguration, platformNamespace string) (mpijob.Config, mpijobwebhook.Policy, error) {
	policy := mpijobwebhook.Policy{
		EnforceIstioSidecarOptOut: ptr.Deref(c.Webhooks.EnforceIstioSidecarOptOut, true),
		AllowPrivileged:           c.PodPolicy.AllowPrivilegedPods,
		AllowHostNetwork:          c.PodPolicy.AllowHostNetwork,
		MaxWorkers:                c.PodPolicy.MaxWorkers,
		PlatformNamespace:         platformNamespace,
	}
	if c.Workers < 1 {
		return mpijob.Config{}, policy, fmt.Errorf("workers %d: want at least 1 job reconciled at a time", c.Workers)
	}
	keyType, err := mpijob.ParseSSHKeyType(c.SSHKeyType)
	if err != nil {
		return mpijob.Config{}, policy, fmt.Errorf("sshKeyType: %w", err)
	}
	cfg := mpijob.Config{
		SSHKeyType:         keyType,
		ClusterDomain:      c.ClusterDomain,
		IstioSidecarOptOut: ptr.Deref(c.JobDefaults.IstioSidecarOptOut, true),
		NCCLEnv:            c.JobDefaults.NCCLEnv,
		SpreadWorkers:      c.JobDefaults.SpreadWorkers,
		NetworkPolicy:      c.NetworkPolicy,
		GangScheduler:      c.GangScheduling,
		Policy:             policy.PodPolicy(),
	}
	return cfg, policy, cfg.Validate()
}
