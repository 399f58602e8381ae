#!/usr/bin/env bash
# make demo: build and start the local real cluster, then show it at work.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# What the demo runs beyond Go and Node.js (installed with apt, or the command
# to run is printed).
hack/test-deps.sh curl unshare ip sshd ssh mpirun.openmpi mpicc.openmpi mpirun.mpich mpicc.mpich gcc python3-mpi4py python3-numpy python3-yaml
# Every file the demo writes goes under the one cache folder
# ($MPIJOB_CACHE_DIR, else .cache), beside the cluster's own.
cache_dir=$(go run ./tools/devcluster cache-dir)

step "Starting the local cluster (the first run builds it from Go modules: 20-30 minutes)"
go run ./tools/devcluster up
eval "$(go run ./tools/devcluster env)"

step "Nodes: kwok simulates 4 GPU servers and 2 CPU servers; on 3 process nodes pods really run (as processes in namespaces of their own)"
kubectl get nodes -L nvidia.com/gpu.product,devcluster.mpijob.io/pool,devcluster.mpijob.io/runtime

ns=demo
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null

step "A Deployment rolls out on kwok nodes"
kubectl -n "$ns" apply -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
spec:
  replicas: 3
  selector:
    matchLabels: {app: hello}
  template:
    metadata:
      labels: {app: hello}
    spec:
      containers:
      - name: hello
        image: example.invalid/hello:1
        resources:
          requests: {cpu: 100m, memory: 64Mi}
YAML
kubectl -n "$ns" rollout status deployment/hello --timeout=90s
kubectl -n "$ns" get pods -o wide

step "A Job whose pod finishes after 3 s with exit code 0 (devcluster.mpijob.io/* annotations tell kwok how)"
kubectl -n "$ns" delete job hello-job --ignore-not-found >/dev/null
kubectl -n "$ns" apply -f - <<'YAML'
apiVersion: batch/v1
kind: Job
metadata:
  name: hello-job
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations:
        devcluster.mpijob.io/finish-after: 3s
        devcluster.mpijob.io/exit-code: "0"
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: example.invalid/train:1
YAML
kubectl -n "$ns" wait --for=condition=Complete job/hello-job --timeout=90s
kubectl -n "$ns" get job hello-job

state_dir=$cache_dir/devcluster
manager=$cache_dir/bin/manager
go build -o "$manager" ./operator/cmd/manager
for pid in manager controller console; do
	if [ -f "$state_dir/$pid.pid" ]; then kill "$(cat "$state_dir/$pid.pid")" 2>/dev/null || true; rm -f "$state_dir/$pid.pid"; fi
done

# token_kubeconfig SA writes a kubeconfig for ServiceAccount mpijob-system/SA with a TokenRequest token and
# nothing else (no admin certificate): the product runs as the identities the chart and the platform create.
token_kubeconfig() {
	local sa=$1 kc=$state_dir/$1.kubeconfig
	local server ca
	server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
	ca=$state_dir/cluster-ca.crt
	kubectl config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$ca"
	rm -f "$kc"
	kubectl --kubeconfig="$kc" config set-cluster devcluster --server="$server" --certificate-authority="$ca" --embed-certs=true >/dev/null
	kubectl --kubeconfig="$kc" config set-credentials "$sa" --token="$(kubectl -n mpijob-system create token "$sa" --duration=48h)" >/dev/null
	kubectl --kubeconfig="$kc" config set-context "$sa" --cluster=devcluster --user="$sa" --namespace=mpijob-system >/dev/null
	kubectl --kubeconfig="$kc" config use-context "$sa" >/dev/null
	echo "$kc"
}

step "helm install (Helm's library, no helm binary needed): CRDs, the operator and its RBAC, and an MPIJobPlatform giving namespace $ns a queue with 8 GPUs"
# The platform's namespace enforces Pod Security's restricted profile, as docs/operations/install.md asks.
kubectl create namespace mpijob-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl label namespace mpijob-system --overwrite pod-security.kubernetes.io/enforce=restricted >/dev/null
go run ./tools/chart install -n mpijob-system -f hack/demo-values.yaml
echo "(the operator Deployment runs on a kwok node, which runs nothing: local processes do its work, as its ServiceAccount)"

step "Starting the platform operator and the MPIJob controller locally, each as the ServiceAccount it has when installed"
port=$(go run ./tools/devcluster free-port)
setsid "$manager" --role=platform --namespace=mpijob-system --kubeconfig="$(token_kubeconfig mpijob-platform-operator)" \
	--local-webhook-url="https://127.0.0.1:$port" --metrics-bind-address=127.0.0.1:0 --health-probe-bind-address=127.0.0.1:0 \
	>"$state_dir/logs/manager.log" 2>&1 < /dev/null &
echo $! >"$state_dir/manager.pid"
echo "operator pid $(cat "$state_dir/manager.pid") as mpijob-system:mpijob-platform-operator, log $state_dir/logs/manager.log"
for _ in $(seq 90); do # the platform creates the controller's ServiceAccount, its ClusterRole binding and its configuration
	kubectl -n mpijob-system get serviceaccount mpijob-controller >/dev/null 2>&1 &&
		kubectl -n mpijob-system get configmap mpijob-controller-config >/dev/null 2>&1 && break
	sleep 1
done
# The controller runs here with the configuration the platform rendered for its Deployment.
kubectl -n mpijob-system get configmap mpijob-controller-config -o jsonpath='{.data.config\.yaml}' >"$state_dir/controller-config.yaml"
setsid "$manager" --role=mpijob-controller --namespace=mpijob-system --kubeconfig="$(token_kubeconfig mpijob-controller)" \
	--config="$state_dir/controller-config.yaml" \
	--metrics-bind-address=127.0.0.1:0 --health-probe-bind-address=127.0.0.1:0 \
	--webhook-bind-address="127.0.0.1:$port" --webhook-cert-dir="$state_dir/webhook-certs" \
	--webhook-cert-secret=mpijob-system/mpijob-webhook-cert --webhook-cert-names=127.0.0.1 \
	>"$state_dir/logs/controller.log" 2>&1 < /dev/null &
echo $! >"$state_dir/controller.pid"
echo "controller pid $(cat "$state_dir/controller.pid") as mpijob-system:mpijob-controller, log $state_dir/logs/controller.log, webhooks on https://127.0.0.1:$port"
kubectl wait --for=condition=Ready mpijobplatform/default --timeout=90s
kubectl get mpijobplatform default -o jsonpath='{range .status.conditions[*]}  {.type}={.status} ({.reason}) {.message}{"\n"}{end}'
kubectl -n mpijob-system get deployment,service,networkpolicy
kubectl get clusterqueue,resourceflavor; kubectl -n "$ns" get localqueue

upstream=$(cd tools/cluster/mpi-operator && go mod download github.com/kubeflow/mpi-operator && go list -m -f '{{.Dir}}' github.com/kubeflow/mpi-operator)
pi() {
	kubectl patch --local -f "$upstream/examples/v2beta1/pi/pi.yaml" --type=merge -o yaml \
		-p '{"spec":{"mpiReplicaSpecs":{"Launcher":{"template":{"metadata":{"annotations":{"devcluster.mpijob.io/finish-after":"5s"}}}}}}}'
}
for _ in $(seq 60); do # until the webhooks serve
	if pi | kubectl -n "$ns" apply --dry-run=server -f - >/dev/null 2>&1; then break; fi
	sleep 1
done

step "The webhooks refuse a job that can never fit the team's quota (80 workers x 1 CPU > 64 CPUs), with the numbers"
pi | sed 's/name: pi$/name: too-big/' | kubectl patch --local -f - --type=merge -o yaml \
	-p '{"spec":{"mpiReplicaSpecs":{"Worker":{"replicas":80}}}}' |
	kubectl -n "$ns" apply -f - || echo "(refused, as expected)"

step "Upstream mpi-operator's pi example, unchanged but for one annotation that tells kwok when mpirun ends"
echo "The webhooks put it in the namespace's only LocalQueue; Kueue admits it; the controller runs it."
kubectl -n "$ns" delete mpijob pi --ignore-not-found --wait=true >/dev/null
pi | kubectl -n "$ns" apply -f -
kubectl -n "$ns" get mpijob pi -o jsonpath='  queue: {.metadata.labels.kueue\.x-k8s\.io/queue-name}, Istio sidecar: {.spec.mpiReplicaSpecs.Worker.template.metadata.annotations.sidecar\.istio\.io/inject}{"\n"}'
kubectl -n "$ns" wait --for=condition=Running mpijob/pi --timeout=90s
kubectl -n "$ns" get pods -l training.kubeflow.org/job-name=pi -o wide
kubectl -n "$ns" wait --for=condition=Succeeded mpijob/pi --timeout=90s
kubectl -n "$ns" get mpijob pi
kubectl -n "$ns" get mpijob pi -o jsonpath='{range .status.conditions[*]}  {.type}={.status} ({.reason}) {.message}{"\n"}{end}'

step "The same pi example for real: namespace demo-real sends its pods to the process nodes, where sshd, mpirun and pi really run (Open MPI 4)"
real=demo-real
kubectl create namespace "$real" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
# The API server's PodNodeSelector and PodTolerationRestriction plugins apply
# these to every pod of the namespace; the manifest stays upstream's.
kubectl annotate namespace "$real" --overwrite \
	scheduler.alpha.kubernetes.io/node-selector=devcluster.mpijob.io/runtime=process \
	'scheduler.alpha.kubernetes.io/defaultTolerations=[{"key":"devcluster.mpijob.io/runtime","operator":"Equal","value":"process","effect":"NoSchedule"}]' >/dev/null
kubectl -n "$real" delete mpijob pi --ignore-not-found --wait=true >/dev/null
kubectl -n "$real" apply -f "$upstream/examples/v2beta1/pi/pi.yaml"
kubectl -n "$real" wait --for=condition=Succeeded mpijob/pi --timeout=180s
kubectl -n "$real" get pods -o wide
echo "The launcher's log (mpirun ran pi on both workers over SSH):"
kubectl -n "$real" logs job/pi-launcher | sed 's/^/  /'

step "The web console on 127.0.0.1 (the manager's --role=console), acting as user demo-user of namespace $ns"
kubectl -n "$ns" create serviceaccount demo-user --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n "$ns" create rolebinding demo-user-edit --clusterrole=edit --serviceaccount="$ns:demo-user" \
	--dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n "$ns" create token demo-user --duration=24h >"$state_dir/console-token"
(cd console/frontend && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && npm run build --silent >/dev/null)
kubectl -n mpijob-system create serviceaccount mpijob-console --dry-run=client -o yaml | kubectl apply -f - >/dev/null
console_port=$(go run ./tools/devcluster free-port)
setsid "$manager" --role=console --kubeconfig="$(token_kubeconfig mpijob-console)" --console-bind-address="127.0.0.1:$console_port" \
	--console-static-dir=console/frontend/web/dist --console-dev-token-file="$state_dir/console-token" \
	>"$state_dir/logs/console.log" 2>&1 < /dev/null &
echo $! >"$state_dir/console.pid"
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$console_port/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "http://127.0.0.1:$console_port/api/v1/whoami" && echo
echo "console: http://127.0.0.1:$console_port (signed in as demo-user; log $state_dir/logs/console.log)"

step "Done. The cluster keeps running:"
echo "  export KUBECONFIG=$KUBECONFIG"
echo "  kubectl odh mpijob get -n $ns -o wide   # the CLI: make cli, then put .cache/bin on PATH"
echo "  From a notebook (Python SDK, docs/sdk.md):"
echo "    python3 -m venv .cache/demo-venv && .cache/demo-venv/bin/pip install -e sdk/python jupyterlab"
echo "    KUBECONFIG=$KUBECONFIG .cache/demo-venv/bin/jupyter lab docs/examples/sdk-quickstart.ipynb"
echo "  make cluster-status    # what runs where"
echo "  web console: http://127.0.0.1:$console_port"
echo "  make cluster-down      # stop it (and the demo's controller and console)"
