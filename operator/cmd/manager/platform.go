package main

import (
	"context"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform"
)

// setupPlatform adds the MPIJobPlatform reconciler with its own cache.
func setupPlatform(mgr ctrl.Manager, namespace, image, localWebhookURL string) error {
	c, err := platform.NewCache(mgr)
	if err != nil {
		return err
	}
	r := &platform.Reconciler{
		Client: mgr.GetClient(), Reader: c, Cache: c, Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		Recorder: mgr.GetEventRecorder("mpijob-platform"), Components: platform.Components(),
		Namespace: namespace, Image: image, LocalWebhookURL: localWebhookURL,
	}
	return r.SetupWithManager(mgr)
}

// waitReady polls the MPIJobPlatform named default until it is Ready (the
// Helm chart's test runs this), printing what is missing meanwhile.
func waitReady(timeout time.Duration) error {
	scheme := runtime.NewScheme()
	if err := platformv1.AddToScheme(scheme); err != nil {
		return err
	}
	restCfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	c, err := client.New(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	last := ""
	for {
		p := &platformv1.MPIJobPlatform{}
		err := c.Get(ctx, client.ObjectKey{Name: platformv1.DefaultName}, p)
		state := ""
		switch {
		case err != nil:
			state = err.Error()
		default:
			cond := meta.FindStatusCondition(p.Status.Conditions, platformv1.ConditionReady)
			if cond != nil && cond.Status == metav1.ConditionTrue && p.Status.ObservedGeneration == p.Generation {
				fmt.Println("MPIJobPlatform default is Ready:", cond.Message)
				return nil
			}
			state = "not Ready yet"
			if cond != nil {
				state = cond.Reason + ": " + cond.Message
			}
		}
		if state != last {
			fmt.Println("MPIJobPlatform default:", state)
			last = state
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("MPIJobPlatform default not Ready after %s: %s", timeout, last)
		case <-time.After(2 * time.Second):
		}
	}
}

// fallbackImage runs the controller when the operator runs outside a pod
// (locally) and nothing names an image: the controller Deployment is then
// only a placeholder for the local process.
const fallbackImage = "mpijob-platform/mpijob-platform-operator:latest"

// ownImage is the image of the operator's own container, so the controller
// Deployment runs the same build without the image being named twice.
func ownImage(r client.Reader) (string, error) {
	name, ns := os.Getenv("POD_NAME"), os.Getenv("POD_NAMESPACE")
	if name == "" || ns == "" {
		return fallbackImage, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pod := &corev1.Pod{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pod); err != nil {
		return "", fmt.Errorf("reading the operator's own pod %s/%s for its image (or set --manager-image): %w", ns, name, err)
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == "manager" {
			return c.Image, nil
		}
	}
	return pod.Spec.Containers[0].Image, nil
}
