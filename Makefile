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
TOOL_MODULES := tools/cluster/etcd tools/cluster/kube tools/cluster/kube-oldest tools/cluster/kwok tools/cluster/kueue tools/cluster/mpi-operator tools/gotools tools/controller-gen tools/krew tools/security

##@ Everyday

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^##@/ {printf "\n%s\n", substr($$0, 5)} /^[a-zA-Z_-]+:.*##/ {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: demo
demo: ## Build and start the local real cluster and show it running workloads.
	hack/demo.sh

.PHONY: test
test: test-deps cluster-build ## Run every test: unit (with -race), front end, SDK, integration (real apiserver) and e2e (dev cluster).
	$(GO_TEST_RACE) $$($(UNIT_PKGS))
	cd tools/security && GOWORK=off $(GO_TEST) ./...
	$(GO_TEST) $(PACKAGING_PKGS) $(FRONTEND_PKG) $(SDK_PKG) ./test/integration/... ./test/e2e/...
	MPIJOB_KUBE=oldest $(GO_TEST) $(OLDEST_KUBE_PKGS)

.PHONY: test-deps
test-deps: ## Install what the tests need beyond Go, Python and Node.js (promtool, Prometheus, Chromium, python3-venv) with apt, or print the command to run.
	@hack/test-deps.sh

##@ Tests by layer

# Unit tests: every Go package but the suites that start a control plane,
# the two that run npm and pip, and the packaging tools, whose tests build
# images, charts and cross-compiled binaries with the Go toolchain (10x
# slower under -race, for no race to find). Unit tests run with the race
# detector (cgo).
PACKAGING_PKGS := ./tools/image ./tools/krewplugin ./tools/catalog ./tools/bundle ./tools/packaging
UNIT_PKGS = $(GO) list ./... | grep -v -e /test/e2e/ -e /test/integration/ -e '/console/frontend$$' -e '/sdk/python$$' \
	-e '/tools/image$$' -e '/tools/krewplugin$$' -e '/tools/catalog$$' -e '/tools/bundle$$' -e '/tools/packaging$$'
GO_TEST_RACE = CGO_ENABLED=1 $(GO_TEST) -race
FRONTEND_PKG := ./console/frontend
SDK_PKG := ./sdk/python

.PHONY: test-unit
test-unit: test-deps ## Go unit tests only, with -race: no control plane, no npm, no pip, no image or chart builds (under a minute when warm).
	$(GO_TEST_RACE) $$($(UNIT_PKGS))
	cd tools/security && GOWORK=off $(GO_TEST) ./...

.PHONY: test-packaging
test-packaging: ## The packaging tools: operator image, krew archives, OLM bundle and catalog, Helm chart.
	$(GO_TEST) $(PACKAGING_PKGS)

.PHONY: test-frontend
test-frontend: ## The console's front end: npm ci when the lock changed, Vitest, tsc and the Vite build.
	$(GO_TEST) $(FRONTEND_PKG)

.PHONY: test-sdk
test-sdk: ## The Python SDK: its virtual environment (pip), pytest unit tests, mypy --strict, the API reference.
	$(GO_TEST) $(SDK_PKG)

.PHONY: test-integration
test-integration: test-deps cluster-build ## Suites against a real kube-apiserver and etcd.
	$(GO_TEST) ./test/integration/...

# The core subset make test runs again on the oldest Kubernetes the product
# claims (tools/cluster/kube-oldest): install as shipped (operator and Helm),
# the MPIJob lifecycle with suspend and cleanup, admission, Kueue gangs.
OLDEST_KUBE_PKGS := ./test/e2e/platform ./test/e2e/helm ./test/e2e/mpijob ./test/e2e/admission

.PHONY: test-oldest-kube
test-oldest-kube: test-deps cluster-build ## The core e2e subset on the oldest Kubernetes supported (tools/cluster/kube-oldest).
	MPIJOB_KUBE=oldest $(GO_TEST) $(OLDEST_KUBE_PKGS)

.PHONY: test-e2e
test-e2e: test-deps cluster-build ## End-to-end suites, each against its own dev cluster.
	$(GO_TEST) ./test/e2e/...

FUZZTIME ?= 60s

.PHONY: fuzz
fuzz: ## Run every Go fuzz target for FUZZTIME each (default 60s) and print executions per target; `make test` runs each for 5s.
	FUZZTIME=$(FUZZTIME) GO=$(GO) hack/fuzz.sh

.PHONY: soak
soak: test-deps cluster-build ## The fault suite at length: 500 jobs and 50 controller kills (FAULTS_JOBS, FAULTS_KILLS, FAULTS_SEED to change); about 25 minutes.
	FAULTS_JOBS=$${FAULTS_JOBS:-500} FAULTS_KILLS=$${FAULTS_KILLS:-50} $(GO) test -count=1 -timeout 3h -v ./test/e2e/faults/

##@ Performance

BENCH_ARGS ?= --scenario=all

.PHONY: bench
bench: cluster-build ## Benchmark the MPIJob controller against upstream mpi-operator side by side, then the webhooks, the platform and the console (BENCH_ARGS to change).
	$(GO) run ./tools/bench $(BENCH_ARGS)

##@ Security

.PHONY: security
security: ## Scan for known vulnerabilities offline: govulncheck with advisory data from the pinned golang.org/x/vulndb module (tools/security); says what it cannot scan.
	cd tools/security && GOWORK=off $(GO) run . -repo $(CURDIR)

##@ Packaging

.PHONY: image
image: console-frontend ## Build the operator image into an OCI layout in .cache/image, without a container engine (IMG=... to rename).
	$(GO) run ./tools/image

.PHONY: bundle
bundle: ## Write the OLM bundle (bundle/, bundle.Dockerfile) for IMG (default: the release image).
	$(GO) run ./tools/bundle $(if $(IMG),--image $(IMG))

.PHONY: catalog
catalog: ## Write the file-based catalog (catalog/) from upgrade/releases.yaml and bundle/.
	$(GO) run ./tools/catalog

.PHONY: cli
cli: ## Build the kubectl/oc plugin into .cache/bin/kubectl-odh (put it on PATH: kubectl odh mpijob ...).
	$(GO) build -o .cache/bin/kubectl-odh ./cli/cmd/kubectl-odh

.PHONY: krew
krew: ## Package kubectl-odh for krew: per-platform archives and the plugin manifest in .cache/dist/krew.
	$(GO) run ./tools/krewplugin

.PHONY: console
console: console-frontend ## Build the web console: the front end (npm), embedded into .cache/bin/console.
	$(GO) build -o .cache/bin/console ./console/cmd/console

.PHONY: console-screenshots
console-screenshots: cluster-build ## Refresh docs/images/console-*.png from the console's browser e2e (headless Chromium).
	CONSOLE_SCREENSHOTS=$(CURDIR)/docs/images $(GO_TEST) -run TestBrowser ./test/e2e/console/

.PHONY: console-frontend
console-frontend: ## Build the console's front end (npm ci, vite) into console/frontend/web/dist, which Go embeds.
	cd console/frontend && npm ci --no-audit --no-fund && npm run build

.PHONY: helm-package
helm-package: ## Package the Helm chart into .cache/dist (the chart folder itself is generated by make generate).
	$(GO) run ./tools/chart package

##@ Local cluster

.PHONY: cluster-build
cluster-build: ## Build the control-plane binaries into .cache/bin, current and oldest Kubernetes (first time 30-40 min, then seconds).
	$(DEVCLUSTER) build
	$(DEVCLUSTER) build --kube=oldest

.PHONY: cluster-up
cluster-up: test-deps ## Start the dev cluster (4 GPU + 2 CPU kwok nodes, 3 process nodes that really run pods, Kueue). GPU_NODES/CPU_NODES/PROCESS_NODES override.
	$(DEVCLUSTER) up $(if $(GPU_NODES),--gpu-nodes=$(GPU_NODES)) $(if $(CPU_NODES),--cpu-nodes=$(CPU_NODES)) $(if $(PROCESS_NODES),--process-nodes=$(PROCESS_NODES))

.PHONY: cluster-down
cluster-down: ## Stop every process of the dev cluster (and the operator, controller and console `make demo` started).
	@state="$$($(DEVCLUSTER) cache-dir)/devcluster"; for pid in manager controller console; do f="$$state/$$pid.pid"; if [ -f "$$f" ]; then kill "$$(cat "$$f")" 2>/dev/null || true; rm -f "$$f"; fi; done
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
	$(CONTROLLER_GEN) rbac:roleName=mpijob-platform-operator paths=./operator/internal/platform/... output:rbac:dir=config/rbac/platform
	$(CONTROLLER_GEN) webhook paths=./operator/internal/webhook/... output:webhook:dir=config/webhook
	$(GO) run ./tools/dashboards
	$(GO) run ./tools/rules
	$(GO) run ./tools/tsgen
	$(GO) run ./cli/cmd/gen-docs
	python3 sdk/python/tools/gen_api_docs.py
	$(GO) run ./tools/manifests
	$(GO) run ./tools/permissions
	IMG= $(GO) run ./tools/bundle
	$(GO) run ./tools/catalog
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
