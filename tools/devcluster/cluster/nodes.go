package cluster

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// GPU node shape: an 8-GPU server, labelled the way NVIDIA's GPU feature
// discovery labels real nodes, so node selectors and Kueue flavors written
// for real clusters work here.
const (
	GPUNodeGPUs       = 8
	GPUProduct        = "NVIDIA-H100-80GB-HBM3"
	GPUResource       = corev1.ResourceName("nvidia.com/gpu")
	GPUNodeNamePrefix = "kwok-gpu-node-"
	CPUNodeNamePrefix = "kwok-cpu-node-"
	// NodePoolLabel says which simulated pool a node belongs to (gpu or cpu).
	NodePoolLabel = "devcluster.mpijob.io/pool"
)

// DesiredNodes returns the kwok nodes of a cluster with the given counts.
func DesiredNodes(gpuNodes, cpuNodes int) []*corev1.Node {
	nodes := make([]*corev1.Node, 0, gpuNodes+cpuNodes)
	zones := []string{"zone-a", "zone-b"}
	for i := 0; i < gpuNodes; i++ {
		n := kwokNode(fmt.Sprintf("%s%d", GPUNodeNamePrefix, i), zones[i%len(zones)], "gpu", corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("64"),
			corev1.ResourceMemory: resource.MustParse("512Gi"),
			corev1.ResourcePods:   resource.MustParse("110"),
			GPUResource:           *resource.NewQuantity(GPUNodeGPUs, resource.DecimalSI),
		})
		for k, v := range map[string]string{
			"nvidia.com/gpu.present":           "true",
			"nvidia.com/gpu.product":           GPUProduct,
			"nvidia.com/gpu.count":             fmt.Sprint(GPUNodeGPUs),
			"nvidia.com/gpu.memory":            "81559",
			"nvidia.com/gpu.family":            "hopper",
			"nvidia.com/gpu.machine":           "kwok-dgx-h100",
			"node.kubernetes.io/instance-type": "kwok-gpu-8xh100",
		} {
			n.Labels[k] = v
		}
		nodes = append(nodes, n)
	}
	for i := 0; i < cpuNodes; i++ {
		n := kwokNode(fmt.Sprintf("%s%d", CPUNodeNamePrefix, i), zones[i%len(zones)], "cpu", corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("32"),
			corev1.ResourceMemory: resource.MustParse("128Gi"),
			corev1.ResourcePods:   resource.MustParse("110"),
		})
		n.Labels["node.kubernetes.io/instance-type"] = "kwok-cpu-32"
		nodes = append(nodes, n)
	}
	return nodes
}

func kwokNode(name, zone, pool string, capacity corev1.ResourceList) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{KwokNodeAnnotation: "fake"},
			Labels: map[string]string{
				"kubernetes.io/hostname":        name,
				"kubernetes.io/os":              "linux",
				"kubernetes.io/arch":            "amd64",
				"topology.kubernetes.io/zone":   zone,
				"topology.kubernetes.io/region": "local",
				"type":                          "kwok",
				NodePoolLabel:                   pool,
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity.DeepCopy()},
	}
}

// createNodes registers the kwok nodes; kwok then marks them Ready.
func (r *runner) createNodes(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(r.c.Config)
	if err != nil {
		return err
	}
	return CreateNodes(ctx, cs, DesiredNodes(r.opts.GPUNodes, r.opts.CPUNodes))
}

// CreateNodes creates nodes with a few parallel writers (benchmarks ask for
// a thousand); nodes that already exist are left as they are.
func CreateNodes(ctx context.Context, cs kubernetes.Interface, nodes []*corev1.Node) error {
	work := make(chan *corev1.Node)
	errs := make(chan error, len(nodes))
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				if _, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
					errs <- fmt.Errorf("creating node %s: %w", n.Name, err)
				}
			}
		}()
	}
	for _, n := range nodes {
		work <- n
	}
	close(work)
	wg.Wait()
	close(errs)
	return <-errs
}
