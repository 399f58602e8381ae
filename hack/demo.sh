#!/usr/bin/env bash
# make demo: build and start the local real cluster, then show it at work.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

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

step "Starting the MPIJob controller (role mpijob-controller) against the local cluster"
state_dir=.cache/devcluster
go build -o .cache/bin/manager ./operator/cmd/manager
if [ -f "$state_dir/manager.pid" ]; then kill "$(cat "$state_dir/manager.pid")" 2>/dev/null || true; fi
setsid .cache/bin/manager --role=mpijob-controller --kubeconfig="$KUBECONFIG" \
	--metrics-bind-address=127.0.0.1:0 --health-probe-bind-address=127.0.0.1:0 \
	>"$state_dir/logs/manager.log" 2>&1 < /dev/null &
echo $! >"$state_dir/manager.pid"
echo "controller pid $(cat "$state_dir/manager.pid"), log $state_dir/logs/manager.log"

step "Upstream mpi-operator's pi example, unchanged but for one annotation that tells kwok when mpirun ends"
upstream=$(cd tools/cluster/mpi-operator && go mod download github.com/kubeflow/mpi-operator && go list -m -f '{{.Dir}}' github.com/kubeflow/mpi-operator)
kubectl -n "$ns" delete mpijob pi --ignore-not-found --wait=true >/dev/null
kubectl patch --local -f "$upstream/examples/v2beta1/pi/pi.yaml" --type=merge -o yaml \
	-p '{"spec":{"mpiReplicaSpecs":{"Launcher":{"template":{"metadata":{"annotations":{"devcluster.mpijob.io/finish-after":"5s"}}}}}}}' |
	kubectl -n "$ns" apply -f -
kubectl -n "$ns" wait --for=condition=Running mpijob/pi --timeout=90s
kubectl -n "$ns" get pods -l training.kubeflow.org/job-name=pi -o wide
kubectl -n "$ns" wait --for=condition=Succeeded mpijob/pi --timeout=90s
kubectl -n "$ns" get mpijob pi
kubectl -n "$ns" get mpijob pi -o jsonpath='{range .status.conditions[*]}  {.type}={.status} ({.reason}) {.message}{"\n"}{end}'

step "Done. The cluster keeps running:"
echo "  export KUBECONFIG=$KUBECONFIG"
echo "  make cluster-status    # what runs where"
echo "  make cluster-down      # stop it (and the demo's controller)"
