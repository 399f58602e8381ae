package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// webhookCallsRE reads the API server's count of calls to each admission
// webhook (apiserver_admission_webhook_request_total, by name and type).
var webhookCallsRE = regexp.MustCompile(`^apiserver_admission_webhook_request_total\{(.*)\} ([0-9.e+]+)$`)

var labelRE = regexp.MustCompile(`(\w+)="([^"]*)"`)

// webhookCalls returns the API server's webhook calls so far, by
// "type name".
func webhookCalls(ctx context.Context, cfg *rest.Config) (map[string]float64, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	body, err := kube.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		m := webhookCallsRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, l := range labelRE.FindAllStringSubmatch(m[1], -1) {
			labels[l[1]] = l[2]
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			continue
		}
		out[labels["type"]+" "+labels["name"]] += v
	}
	return out, sc.Err()
}

// callsPerRequest formats the calls between two readings, per request.
func callsPerRequest(before, after map[string]float64, requests int) string {
	if requests == 0 {
		return "-"
	}
	var parts []string
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, d/float64(requests)))
		}
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
