package main

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Optional shows which members may be absent or null.
type Optional struct {
	Plain string `json:"plain"`
	// Omitted is left out when empty.
	Omitted string `json:"omitted,omitempty"`
	Zero    int    `json:"zero,omitzero"`
	// Ptr is null when nil.
	Ptr      *int32 `json:"ptr"`
	PtrOmit  *int32 `json:"ptrOmit,omitempty"`
	Quoted   int64  `json:"quoted,string"`
	Untagged bool
	Skipped  string `json:"-"`
	hidden   string //nolint:unused // unexported fields are not members.
}

// Base is embedded.
type Base struct {
	// ID is promoted into the outer object.
	ID   string `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind,omitempty"`
}

type Extra struct {
	Note string `json:"note"`
	Kind string `json:"kind"`
	Size int    `json:"size"`
}

type Other struct {
	Note string `json:"note"`
}

type untaggedKind struct {
	Kind string
}

// Embedding flattens embedded structs as encoding/json does.
type Embedding struct {
	Base
	*Extra
	Other
	untaggedKind
	Named Base `json:"named"`
	// Name shadows Base's.
	Name []string `json:"name,omitempty"`
}

// Pair is two numbers.
type Pair [2]float64

type Collections struct {
	Labels map[string]string `json:"labels"`
	ByID   map[int]Pair      `json:"byID,omitempty"`
	Raw    []byte            `json:"raw"`
	Pairs  []Pair            `json:"pairs"`
	Maybe  []*Pair           `json:"maybe"`
	Big    [10]int           `json:"big"`
	Any    any               `json:"any"`
	Inline struct {
		A string `json:"a"`
	} `json:"inline"`
}

type Times struct {
	At      time.Time    `json:"at"`
	Ended   *time.Time   `json:"ended,omitempty"`
	Changed metav1.Time  `json:"changed,omitempty"`
	Seen    *metav1.Time `json:"seen"`
}

type Kube struct {
	Env     []corev1.EnvVar      `json:"env"`
	Details metav1.StatusDetails `json:"details"`
	// Severity is danger, warning or info.
	Severity string `json:"severity"`
}

// copyOfOther mirrors Other; copyOfExtra does not mirror Extra.
type (
	copyOfOther struct {
		Note string `json:"note"`
	}
	copyOfExtra struct {
		Note string `json:"note"`
		Kind string `json:"kind,omitempty"`
	}
)
