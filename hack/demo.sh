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

step "Done. The cluster keeps running:"
echo "  export KUBECONFIG=$KUBECONFIG"
echo "  make cluster-status    # what runs where"
echo "  make cluster-down      # stop it"
