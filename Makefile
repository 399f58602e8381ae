# MPIJob Platform. `make help` lists the targets; README.md explains the two
# that matter most: `make demo` and `make test`.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO ?= go
# One set of build flags everywhere, so tools and tests share the build cache.
export CGO_ENABLED ?= 0
export GOFLAGS ?= -trimpath -buildvcs=false
DEVCLUSTER := $(GO) run ./tools/devcluster
GOLANGCI_LINT := $(GO) tool -modfile=tools/gotools/go.mod golangci-lint
TEST_TIMEOUT ?= 30m
GO_TEST ?= $(GO) test -count=1 -timeout $(TEST_TIMEOUT)

# Pinned tool modules: each builds binaries into the cache or runs as a tool.
TOOL_MODULES := tools/cluster/etcd tools/cluster/kube tools/cluster/kwok tools/cluster/kueue tools/cluster/mpi-operator tools/gotools tools/controller-gen

##@ Everyday

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^##@/ {printf "\n%s\n", substr($$0, 5)} /^[a-zA-Z_-]+:.*##/ {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: demo
demo: ## Build and start the local real cluster and show it running workloads.
	hack/demo.sh

.PHONY: test
test: cluster-build ## Run every test: unit, integration (real apiserver) and e2e (dev cluster).
	$(GO_TEST) ./...

##@ Tests by layer

.PHONY: test-unit
test-unit: ## Unit tests only (no control plane).
	$(GO_TEST) $$($(GO) list ./... | grep -v -e /test/e2e/ -e /test/integration/)

.PHONY: test-e2e
test-e2e: cluster-build ## End-to-end suites, each against its own dev cluster.
	$(GO_TEST) ./test/e2e/...

##@ Performance

BENCH_ARGS ?= --jobs 100 --workers 8 --upstream

.PHONY: bench
bench: cluster-build ## Benchmark the MPIJob controller against upstream mpi-operator, side by side (BENCH_ARGS to change).
	$(GO) run ./tools/bench $(BENCH_ARGS)

##@ Local cluster

.PHONY: cluster-build
cluster-build: ## Build the control-plane binaries into .cache/bin (first time 20-30 min, then seconds).
	$(DEVCLUSTER) build

.PHONY: cluster-up
cluster-up: ## Start the dev cluster (4 GPU + 2 CPU kwok nodes, Kueue). GPU_NODES/CPU_NODES override.
	$(DEVCLUSTER) up $(if $(GPU_NODES),--gpu-nodes=$(GPU_NODES)) $(if $(CPU_NODES),--cpu-nodes=$(CPU_NODES))

.PHONY: cluster-down
cluster-down: ## Stop every process of the dev cluster (and the controller `make demo` started).
	@if [ -f .cache/devcluster/manager.pid ]; then kill "$$(cat .cache/devcluster/manager.pid)" 2>/dev/null || true; rm -f .cache/devcluster/manager.pid; fi
	$(DEVCLUSTER) down

.PHONY: cluster-status
cluster-status: ## Show the dev cluster's processes, ports and nodes.
	$(DEVCLUSTER) status

.PHONY: cluster-env
cluster-env: ## Print exports for KUBECONFIG, KUBEBUILDER_ASSETS and kubectl: eval "$$(make -s cluster-env)".
	@$(DEVCLUSTER) env

##@ Code health

.PHONY: build
build: ## Compile every package.
	$(GO) build ./...

CONTROLLER_GEN := $(GO) tool -modfile=tools/controller-gen/go.mod controller-gen

.PHONY: generate
generate: ## Regenerate every generated file.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./operator/api/...
	$(CONTROLLER_GEN) crd:generateEmbeddedObjectMeta=true paths=./operator/api/... output:crd:dir=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=mpijob-controller paths=./operator/internal/mpijob/... paths=./operator/internal/webhook/... paths=./operator/pkg/... output:rbac:dir=config/rbac/mpijob-controller
	$(CONTROLLER_GEN) rbac:roleName=mpijob-platform-operator paths=./operator/... output:rbac:dir=config/rbac/platform
	$(CONTROLLER_GEN) webhook paths=./operator/internal/webhook/... output:webhook:dir=config/webhook
	$(GO) run ./tools/dashboards
	$(GO) mod tidy
	@for m in $(TOOL_MODULES); do (cd $$m && $(GO) mod tidy); done
	gofmt -s -w $$(git ls-files '*.go')

.PHONY: lint
lint: ## Run golangci-lint (pinned in tools/gotools).
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: generate lint ## Regenerate, lint, then fail if the tree is not clean.
	@if [ -n "$$(git status --porcelain)" ]; then \
		echo "verify: the tree changed after regenerating; commit these:"; git status --porcelain; git --no-pager diff --stat; exit 1; \
	fi
	@echo "verify: clean"
