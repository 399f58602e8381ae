package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

// testConfig generates the sample types of samples_test.go.
func testConfig(roots ...root) config {
	local := reflect.TypeFor[Optional]().PkgPath()
	return config{
		roots: roots,
		local: func(pkgPath string) bool { return pkgPath == local },
		typed: map[reflect.Type][]string{reflect.TypeFor[corev1.EnvVar](): {"name", "value"}},
		fixed: fixedTypes,
		fieldTypes: map[fieldKey]string{
			{reflect.TypeFor[Kube](), "Severity"}: "'danger' | 'warning' | 'info'",
		},
		mirrors: map[reflect.Type]mirror{
			reflect.TypeFor[copyOfOther](): {pkgPath: local, name: "Other"},
			reflect.TypeFor[copyOfExtra](): {pkgPath: local, name: "Extra"},
		},
		source: func(pkgPath string) (*sourcePackage, error) {
			if pkgPath != local {
				return &sourcePackage{}, nil
			}
			return parseSource("samples_test.go")
		},
	}
}

func TestGenerate(t *testing.T) {
	tests := map[string]struct {
		roots        []root
		want         string
		wantWarnings []string
	}{
		"omitempty and omitzero are optional, pointers without them null": {
			roots: []root{{typ: reflect.TypeFor[Optional]()}},
			want: `
/** Optional shows which members may be absent or null. */
export interface Optional {
  plain: string;
  /** omitted is left out when empty. */
  omitted?: string;
  zero?: number;
  /** ptr is null when nil. */
  ptr: number | null;
  ptrOmit?: number;
  quoted: string;
  Untagged: boolean;
}
`,
		},
		"embedded structs are flattened, the shallowest member wins and ties drop out": {
			roots: []root{{typ: reflect.TypeFor[Embedding]()}},
			want: `
/** Embedding flattens embedded structs as encoding/json does. */
export interface Embedding {
  /** id is promoted into the outer object. */
  id: string;
  size?: number;
  Kind: string;
  named: Base;
  /** name shadows Base's. */
  name?: string[];
}

/** Base is embedded. */
export interface Base {
  /** id is promoted into the outer object. */
  id: string;
  name: string;
  kind?: string;
}
`,
		},
		"maps are Records, arrays tuples, []byte a string": {
			roots: []root{{typ: reflect.TypeFor[Collections]()}},
			want: `
export interface Collections {
  labels: Record<string, string>;
  byID?: Record<string, Pair>;
  raw: string;
  pairs: Pair[];
  maybe: (Pair | null)[];
  big: number[];
  any: unknown;
  inline: {
    a: string;
  };
}

/** Pair is two numbers. */
export type Pair = [number, number];
`,
		},
		"times are strings": {
			roots: []root{{typ: reflect.TypeFor[Times]()}},
			want: `
export interface Times {
  at: string;
  ended?: string;
  changed?: string;
  seen: string | null;
}
`,
		},
		"Kubernetes types are typed only where listed, field overrides win": {
			roots: []root{{typ: reflect.TypeFor[Kube]()}},
			want: `
export interface Kube {
  env: EnvVar[];
  details: Record<string, unknown>;
  /** severity is danger, warning or info. */
  severity: 'danger' | 'warning' | 'info';
}

export interface EnvVar {
  name: string;
  value?: string;
  /** The members the console does not read. */
  [key: string]: unknown;
}
`,
			wantWarnings: []string{"k8s.io/apimachinery/pkg/apis/meta/v1.StatusDetails is typed as Record<string, unknown>: list it in typedTypes to declare it"},
		},
		"a mirror of an unexported type takes the root's name and the original's docs": {
			roots: []root{{typ: reflect.TypeFor[copyOfOther](), name: "OtherBody", doc: "OtherBody is Other."}},
			want: `
/** OtherBody is Other. */
export interface OtherBody {
  note: string;
}
`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, warnings, err := generate(testConfig(tc.roots...))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("generate() mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantWarnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGenerateErrors(t *testing.T) {
	tests := map[string]struct {
		roots   []root
		wantErr string
	}{
		"a mirror that no longer matches": {
			roots:   []root{{typ: reflect.TypeFor[copyOfExtra](), name: "ExtraBody"}},
			wantErr: "main.copyOfExtra no longer matches",
		},
		"a name TypeScript has": {
			roots:   []root{{typ: reflect.TypeFor[Base](), name: "Error"}},
			wantErr: "shadows TypeScript's own",
		},
		"two types under one name": {
			roots:   []root{{typ: reflect.TypeFor[Base](), name: "Other"}, {typ: reflect.TypeFor[Other]()}},
			wantErr: "would both be declared as Other",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, _, err := generate(testConfig(tc.roots...))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("generate() error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
