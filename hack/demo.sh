#!/usr/bin/env bash
# make demo: build and start the local real cluster, then show it at work.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# What the demo runs beyond Go and Node.js (installed with apt, or the command
# to run is printed).
hack/test-deps.sh curl unshare
# Every file the demo writes goes under the one cache folder
# ($MPIJOB_CACHE_DIR, else .cache), beside the cluster's own.
cache_dir=$(go run ./tools/devcluster cache-dir)

step "Starting the local cluster (the first run builds it from Go modules: 20-30 minutes)"
go run ./tools/devcluster up
eval "$(go run ./tools/devcluster env)"

step "Nodes: kwok simulates 4 GPU servers and 2 CPU servers"
kubectl get nodes -L nvidia.com/gpu.product,devcluster.mpijob.io/pool

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

step "Starting the platform operator locally (--role=all: platform, MPIJob controller and webhooks in one process)"
state_dir=$cache_dir/devcluster
manager=$cache_dir/bin/manager
go build -o "$manager" ./operator/cmd/manager
if [ -f "$state_dir/manager.pid" ]; then kill "$(cat "$state_dir/manager.pid")" 2>/dev/null || true; fi
kubectl create namespace mpijob-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null
port=$(go run ./tools/devcluster free-port)
setsid "$manager" --role=all --namespace=mpijob-system --kubeconfig="$KUBECONFIG" \
	--metrics-bind-address=127.0.0.1:0 --health-probe-bind-address=127.0.0.1:0 \
	--webhook-bind-address="127.0.0.1:$port" --webhook-cert-dir="$state_dir/webhook-certs" \
	--webhook-cert-secret=mpijob-system/mpijob-webhook-cert --webhook-cert-names=127.0.0.1 \
	>"$state_dir/logs/manager.log" 2>&1 < /dev/null &
echo $! >"$state_dir/manager.pid"
echo "operator pid $(cat "$state_dir/manager.pid"), log $state_dir/logs/manager.log, webhooks on https://127.0.0.1:$port"

step "helm install (Helm's library, no helm binary needed): CRDs, the operator, and an MPIJobPlatform giving namespace $ns a queue with 8 GPUs"
go run ./tools/chart install -n mpijob-system -f hack/demo-values.yaml
echo "(the operator Deployment runs on a kwok node, which runs nothing: the local process above does the work)"
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

step "The web console on 127.0.0.1 (the manager's --role=console), acting as user demo-user of namespace $ns"
kubectl -n "$ns" create serviceaccount demo-user --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n "$ns" create rolebinding demo-user-edit --clusterrole=edit --serviceaccount="$ns:demo-user" \
	--dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n "$ns" create token demo-user --duration=24h >"$state_dir/console-token"
(cd console/frontend && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && npm run build --silent >/dev/null)
if [ -f "$state_dir/console.pid" ]; then kill "$(cat "$state_dir/console.pid")" 2>/dev/null || true; fi
console_port=$(go run ./tools/devcluster free-port)
setsid "$manager" --role=console --kubeconfig="$KUBECONFIG" --console-bind-address="127.0.0.1:$console_port" \
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
