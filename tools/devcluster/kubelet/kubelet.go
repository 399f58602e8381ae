package kubelet

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// Node labels and taints of process nodes.
const (
	// RuntimeLabel marks a node whose pods run as real processes.
	RuntimeLabel = "devcluster.mpijob.io/runtime"
	// RuntimeProcess is RuntimeLabel's value on process nodes.
	RuntimeProcess = "process"
	// ClusterDomain is the DNS suffix of the dev cluster's Services.
	ClusterDomain = "cluster.local"
	// Version is what process nodes report as their kubelet version.
	Version = "v1.37.2-devcluster-process"
)

// Options configure a process kubelet.
type Options struct {
	Kubeconfig string
	// Nodes are the names of the nodes this kubelet runs (created when
	// missing).
	Nodes []string
	// Dir holds the runtime's state: one folder per pod (volumes, logs,
	// container specs).
	Dir string
	// CacheDir holds the built runtime profiles.
	CacheDir string
	// Port, CertFile and KeyFile serve the kubelet API (container logs) on
	// 127.0.0.1.
	Port              int
	CertFile, KeyFile string
	// Self is the binary that runs "pod-init" (the devcluster command).
	Self string
	// CPU and Memory are each node's capacity.
	CPU, Memory string
}

// Kubelet runs the pods bound to its nodes as processes.
type Kubelet struct {
	opts     Options
	cs       kubernetes.Interface
	net      *network
	cg       *cgroups // nil: memory limits are not enforced here
	services corelisters.ServiceLister
	podIndex []cache.Indexer

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	byName  map[string]*podWorker // namespace/name -> newest worker
	wg      sync.WaitGroup
}

// Run starts the kubelet and blocks until ctx ends; then every pod's
// processes are killed and every namespace removed.
func Run(ctx context.Context, opts Options) error {
	if os.Geteuid() != 0 {
		return errors.New("the process runtime needs root (network, mount and PID namespaces)")
	}
	if len(opts.Nodes) == 0 {
		return errors.New("no nodes to run")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", opts.Kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, "pods"), 0o755); err != nil {
		return err
	}
	k := &Kubelet{opts: opts, cs: cs, workers: map[types.UID]*podWorker{}, byName: map[string]*podWorker{}}
	k.net, err = newNetwork(ctx, opts.Dir)
	if err != nil {
		return err
	}
	if k.cg, err = newCgroups(opts.Dir); err != nil {
		log.Printf("container memory limits are not enforced on this machine: %v", err)
		k.cg = nil
	}
	defer func() {
		k.stopAll()
		cleanup, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := RemoveNetworks(cleanup, opts.Dir); err != nil {
			log.Printf("removing pod networks: %v", err)
		}
		if _, err := RemoveCgroups(opts.Dir); err != nil {
			log.Printf("removing memory cgroups: %v", err)
		}
	}()
	for _, n := range opts.Nodes {
		if err := k.registerNode(ctx, n); err != nil {
			return fmt.Errorf("registering node %s: %w", n, err)
		}
	}

	svcFactory := informers.NewSharedInformerFactory(cs, 0)
	svcInformer := svcFactory.Core().V1().Services()
	k.services = svcInformer.Lister()
	_, _ = svcInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.refreshHosts(obj.(*corev1.Service).Namespace) },
		UpdateFunc: func(_, obj any) { k.refreshHosts(obj.(*corev1.Service).Namespace) },
		DeleteFunc: func(obj any) {
			if s, ok := obj.(*corev1.Service); ok {
				k.refreshHosts(s.Namespace)
			}
		},
	})
	svcFactory.Start(ctx.Done())
	svcFactory.WaitForCacheSync(ctx.Done())

	for _, node := range opts.Nodes {
		f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", node).String()
		}))
		inf := f.Core().V1().Pods().Informer()
		k.podIndex = append(k.podIndex, inf.GetIndexer())
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { k.podChanged(ctx, obj.(*corev1.Pod)) },
			UpdateFunc: func(_, obj any) { k.podChanged(ctx, obj.(*corev1.Pod)) },
			DeleteFunc: func(obj any) {
				if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = t.Obj
				}
				if p, ok := obj.(*corev1.Pod); ok {
					k.podDeleted(p)
				}
			},
		})
		f.Start(ctx.Done())
		f.WaitForCacheSync(ctx.Done())
	}
	go k.heartbeat(ctx)
	srv := &http.Server{
		Addr:              net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Port)),
		Handler:           k.api(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Printf("process kubelet ready: nodes %s, API on %s, pod network %s", strings.Join(opts.Nodes, ","), srv.Addr, PodCIDR)
	if err := srv.ListenAndServeTLS(opts.CertFile, opts.KeyFile); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// NodeObject is a process node as it is registered.
func NodeObject(name, cpu, memory string) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse(cpu),
		corev1.ResourceMemory:           resource.MustParse(memory),
		corev1.ResourcePods:             resource.MustParse("32"),
		corev1.ResourceEphemeralStorage: resource.MustParse("50Gi"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				"kubernetes.io/hostname":        name,
				"kubernetes.io/os":              "linux",
				"kubernetes.io/arch":            "amd64",
				"topology.kubernetes.io/zone":   "zone-a",
				"topology.kubernetes.io/region": "local",
				"type":                          RuntimeProcess,
				RuntimeLabel:                    RuntimeProcess,
			},
		},
		Spec: corev1.NodeSpec{
			// Only pods that ask for real processes land here; every other
			// test keeps kwok's cheap pretence.
			Taints: []corev1.Taint{{Key: RuntimeLabel, Value: RuntimeProcess, Effect: corev1.TaintEffectNoSchedule}},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity.DeepCopy()},
	}
}

func (k *Kubelet) registerNode(ctx context.Context, name string) error {
	cpu, mem := k.opts.CPU, k.opts.Memory
	if cpu == "" {
		cpu = "4"
	}
	if mem == "" {
		mem = "8Gi"
	}
	want := NodeObject(name, cpu, mem)
	if _, err := k.cs.CoreV1().Nodes().Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return k.updateNodeStatus(ctx, name, want.Status.Capacity)
}

func (k *Kubelet) updateNodeStatus(ctx context.Context, name string, capacity corev1.ResourceList) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error { return k.tryNodeStatus(ctx, name, capacity) })
}

func (k *Kubelet) tryNodeStatus(ctx context.Context, name string, capacity corev1.ResourceList) error {
	node, err := k.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	now := metav1.Now()
	if capacity != nil {
		node.Status.Capacity, node.Status.Allocatable = capacity, capacity.DeepCopy()
	}
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		c := corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
		for _, old := range node.Status.Conditions {
			if old.Type == t && old.Status == s {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		return c
	}
	node.Status.Conditions = []corev1.NodeCondition{
		cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "process runtime"),
		cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "process runtime"),
		cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "process runtime"),
		cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "the dev cluster's process runtime runs pods as real processes"),
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: name}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(k.opts.Port)
	node.Status.NodeInfo = corev1.NodeSystemInfo{
		KubeletVersion: Version, OperatingSystem: "linux", Architecture: "amd64",
		ContainerRuntimeVersion: "process://devcluster", OSImage: "dev cluster process runtime",
	}
	_, err = k.cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}

// heartbeat renews each node's Lease every 10 s and its status every 30 s,
// so that the node lifecycle controller keeps the nodes Ready.
func (k *Kubelet) heartbeat(ctx context.Context) {
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		for _, n := range k.opts.Nodes {
			if err := k.renewLease(ctx, n); err != nil && ctx.Err() == nil {
				log.Printf("node %s: lease: %v", n, err)
			}
			if i%3 == 2 {
				if err := k.updateNodeStatus(ctx, n, nil); err != nil && ctx.Err() == nil {
					log.Printf("node %s: status: %v", n, err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (k *Kubelet) renewLease(ctx context.Context, node string) error {
	leases := k.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: node},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: ptr.To(node), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &now,
			},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	l.Spec.RenewTime = &now
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	return err
}

// podChanged starts a worker for a new pod and tells an existing one.
func (k *Kubelet) podChanged(ctx context.Context, pod *corev1.Pod) {
	k.mu.Lock()
	w, ok := k.workers[pod.UID]
	if !ok {
		w = newPodWorker(k, pod)
		k.workers[pod.UID] = w
		k.byName[pod.Namespace+"/"+pod.Name] = w
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			w.run(ctx)
			k.mu.Lock()
			delete(k.workers, pod.UID)
			k.mu.Unlock()
		}()
	}
	k.mu.Unlock()
	w.update(pod, false)
	k.refreshHosts(pod.Namespace)
}

func (k *Kubelet) podDeleted(pod *corev1.Pod) {
	k.mu.Lock()
	w := k.workers[pod.UID]
	k.mu.Unlock()
	if w != nil {
		w.update(pod, true)
	}
	k.refreshHosts(pod.Namespace)
}

func (k *Kubelet) stopAll() {
	k.mu.Lock()
	for _, w := range k.workers {
		w.update(nil, true)
	}
	k.mu.Unlock()
	k.wg.Wait()
}

// worker returns the newest worker of namespace/name.
func (k *Kubelet) worker(ns, name string) *podWorker {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.byName[ns+"/"+name]
}

// refreshHosts rewrites /etc/hosts of every running pod in ns.
func (k *Kubelet) refreshHosts(ns string) {
	k.mu.Lock()
	var ws []*podWorker
	for _, w := range k.workers {
		if w.namespace == ns {
			ws = append(ws, w)
		}
	}
	k.mu.Unlock()
	if len(ws) == 0 {
		return
	}
	entries := k.dnsEntries(ns)
	for _, w := range ws {
		w.writeHosts(entries)
	}
}

// dnsEntry is one name cluster DNS would answer.
type dnsEntry struct{ ip, fqdn string }

// dnsEntries are the pods of headless Services in ns that run on this
// runtime: what cluster DNS would answer for
// <hostname>.<subdomain>.<ns>.svc.<domain>.
func (k *Kubelet) dnsEntries(ns string) []dnsEntry {
	var out []dnsEntry
	for _, idx := range k.podIndex {
		for _, obj := range idx.List() {
			p := obj.(*corev1.Pod)
			if p.Namespace != ns || p.Status.PodIP == "" || p.Spec.Hostname == "" || p.Spec.Subdomain == "" ||
				p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			svc, err := k.services.Services(ns).Get(p.Spec.Subdomain)
			if err != nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
				continue
			}
			if !svc.Spec.PublishNotReadyAddresses && !podReady(p) {
				continue
			}
			out = append(out, dnsEntry{p.Status.PodIP, fmt.Sprintf("%s.%s.%s.svc.%s", p.Spec.Hostname, p.Spec.Subdomain, ns, ClusterDomain)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].fqdn < out[j].fqdn })
	return out
}

// searchPath is a pod's DNS search list: the cluster's for its namespace,
// then what its dnsConfig adds (ClusterFirst's merge).
func searchPath(pod *corev1.Pod) []string {
	out := []string{pod.Namespace + ".svc." + ClusterDomain, "svc." + ClusterDomain, ClusterDomain}
	if pod.Spec.DNSConfig != nil {
		for _, s := range pod.Spec.DNSConfig.Searches {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// hostsLine is one /etc/hosts line for e as a pod with the given search
// path sees it: the FQDN and every shorter name the search path completes
// to it (a resolver reads /etc/hosts by exact name only).
func hostsLine(e dnsEntry, search []string) string {
	names := []string{e.fqdn}
	for _, s := range search {
		if short, ok := strings.CutSuffix(e.fqdn, "."+s); ok && !slices.Contains(names, short) {
			names = append(names, short)
		}
	}
	return e.ip + "\t" + strings.Join(names, " ")
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
