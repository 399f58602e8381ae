package cluster

import (
	"fmt"
	"strconv"
	"strings"
)

// Annotations that tell kwok how a simulated pod ends. A pod without
// FinishAfterAnnotation runs until it is deleted.
const (
	// FinishAfterAnnotation is a Go duration ("30s") after which the pod's
	// containers exit, counted from the moment the pod is Running.
	FinishAfterAnnotation = "devcluster.mpijob.io/finish-after"
	// ExitCodeAnnotation is the containers' exit code (0-255, default 0).
	ExitCodeAnnotation = "devcluster.mpijob.io/exit-code"
	// ReasonAnnotation overrides the termination reason (default Completed
	// for exit code 0, Error otherwise; e.g. OOMKilled).
	ReasonAnnotation = "devcluster.mpijob.io/reason"
	// MessageAnnotation is the containers' termination message.
	MessageAnnotation = "devcluster.mpijob.io/message"

	// KwokNodeAnnotation marks the nodes kwok manages.
	KwokNodeAnnotation = "kwok.x-k8s.io/node"
)

// kwokStages are the lifecycles kwok plays. They follow kwok's stock "fast"
// stages for nodes, readiness and deletion, without delays, and replace the
// stock completion stage (which finishes every Job-owned pod at once) with
// one that ends only annotated pods, the way a kubelet would: restartPolicy
// Never ends the pod, OnFailure ends it on success and restarts the container
// on failure, Always restarts it.
const kwokStages = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-initialize
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values: ['True']
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
      addresses:
      - address: {{ NodeIP | Quote }}
        type: InternalIP
      - address: {{ NodeName | Quote }}
        type: Hostname
      daemonEndpoints:
        kubeletEndpoint:
          Port: {{ or NodePort 10250 }}
      allocatable:
      {{ with .status.allocatable }}{{ YAML . 1 }}{{ else }}
        cpu: "64"
        memory: 512Gi
        pods: "110"
      {{ end }}
      capacity:
      {{ with .status.capacity }}{{ YAML . 1 }}{{ else }}
        cpu: "64"
        memory: 512Gi
        pods: "110"
      {{ end }}
      nodeInfo:
        architecture: amd64
        containerRuntimeVersion: {{ printf "kwok-%s" Version }}
        kernelVersion: {{ printf "kwok-%s" Version }}
        kubeProxyVersion: {{ printf "kwok-%s" Version }}
        kubeletVersion: {{ printf "kwok-%s" Version }}
        operatingSystem: linux
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values: ['Pending']
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values: ['True']
  next:
    event:
      type: Normal
      reason: Started
      message: Started container (simulated by kwok)
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: PodScheduled
      {{ range .spec.readinessGates }}
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: {{ .conditionType | Quote }}
      {{ end }}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        started: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
      {{ with .spec.initContainers }}
      initContainerStatuses:
      {{ range . }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        state:
          terminated:
            exitCode: 0
            finishedAt: {{ $now | Quote }}
            reason: Completed
            startedAt: {{ $now | Quote }}
      {{ end }}
      {{ end }}
      {{ $hostIPs := NodeIPsWith .spec.nodeName }}
      {{ with $hostIPs }}
      hostIP: {{ index . 0 | Quote }}
      hostIPs:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}
      {{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
      {{ with $podIPs }}
      podIP: {{ index . 0 | Quote }}
      podIPs:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-finish-on-request
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values: ['Running']
    - key: '.metadata.annotations["` + FinishAfterAnnotation + `"]'
      operator: 'Exists'
  delay:
    durationMilliseconds: 0
    durationFrom:
      expressionFrom: '.metadata.annotations["` + FinishAfterAnnotation + `"]'
  next:
    event:
      type: Normal
      reason: ContainerExited
      message: Container exited as its devcluster annotations asked (simulated by kwok)
    statusTemplate: |
      {{ $now := Now }}
      {{ $root := . }}
      {{ $code := or (index .metadata.annotations "` + ExitCodeAnnotation + `") "0" }}
      {{ $reason := index .metadata.annotations "` + ReasonAnnotation + `" }}
      {{ if not $reason }}{{ if eq $code "0" }}{{ $reason = "Completed" }}{{ else }}{{ $reason = "Error" }}{{ end }}{{ end }}
      {{ $message := index .metadata.annotations "` + MessageAnnotation + `" }}
      {{ $policy := or .spec.restartPolicy "Always" }}
      {{ $final := or (eq $policy "Never") (and (eq $policy "OnFailure") (eq $code "0")) }}
      {{ if $final }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        reason: {{ if eq $code "0" }}PodCompleted{{ else }}PodFailed{{ end }}
        status: "False"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        reason: {{ if eq $code "0" }}PodCompleted{{ else }}PodFailed{{ end }}
        status: "False"
        type: ContainersReady
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: PodScheduled
      {{ end }}
      containerStatuses:
      {{ range $index, $item := .spec.containers }}
      {{ $started := $now }}
      {{ $restarts := 0 }}
      {{ with $root.status.containerStatuses }}{{ with index . $index }}
      {{ $restarts = .restartCount }}
      {{ with .state.running }}{{ $started = .startedAt }}{{ end }}
      {{ end }}{{ end }}
      - image: {{ $item.image | Quote }}
        name: {{ $item.name | Quote }}
        started: {{ not $final }}
        ready: {{ not $final }}
        {{ if $final }}
        restartCount: {{ $restarts }}
        state:
          terminated:
            exitCode: {{ $code }}
            reason: {{ $reason | Quote }}
            {{ with $message }}message: {{ . | Quote }}{{ end }}
            startedAt: {{ $started | Quote }}
            finishedAt: {{ $now | Quote }}
        {{ else }}
        restartCount: {{ add1 $restarts }}
        lastState:
          terminated:
            exitCode: {{ $code }}
            reason: {{ $reason | Quote }}
            {{ with $message }}message: {{ . | Quote }}{{ end }}
            startedAt: {{ $started | Quote }}
            finishedAt: {{ $now | Quote }}
        state:
          running:
            startedAt: {{ $now | Quote }}
        {{ end }}
      {{ end }}
      {{ if $final }}
      phase: {{ if eq $code "0" }}Succeeded{{ else }}Failed{{ end }}
      {{ end }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'Exists'
    - key: '.metadata.finalizers'
      operator: 'DoesNotExist'
  next:
    delete: true
`

// ContainerLogLines are what every simulated container logs: kwok serves
// them through the kubelet API, so `kubectl logs` (and the CLI, SDK and
// console) read real log streams from the apiserver.
var ContainerLogLines = []string{
	"kwok: simulated container started",
	"kwok: rank 0 of 1 ready",
	"kwok: done",
}

// containerLogCRI is ContainerLogLines in the CRI log format kwok reads.
func containerLogCRI() string {
	var b strings.Builder
	for i, line := range ContainerLogLines {
		fmt.Fprintf(&b, "2026-01-01T00:00:%02d.000000000Z stdout F %s\n", i, line)
	}
	return b.String()
}

// clusterLogs is a kwok ClusterLogs document serving logFile for every
// container of every pod.
func clusterLogs(logFile string) string {
	return `
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: every-container
spec:
  selector: {}
  logs:
  - logsFile: ` + strconv.Quote(logFile) + `
`
}
