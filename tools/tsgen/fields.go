package main

import (
	"cmp"
	"reflect"
	"slices"
	"strings"
	"unicode"
)

// field is one member of a struct's JSON object.
type field struct {
	name   string // the JSON name
	goName string
	typ    reflect.Type
	// owner is the struct that declares the field: t itself, or a struct
	// embedded in it. Doc comments and overrides are looked up there.
	owner  reflect.Type
	index  []int
	tagged bool
	// omitEmpty is set by omitempty or omitzero: the member may be absent.
	omitEmpty bool
	// quoted is the ",string" option on a number or boolean.
	quoted bool
	// viaPointer: the field is promoted through an embedded pointer, so it
	// is absent while that pointer is nil.
	viaPointer bool
}

// jsonFields lists the members encoding/json writes for struct t, in its
// order, with its rules: exported fields only, the json tag's name and
// options, embedded structs flattened unless tagged with a name, and the
// shallowest (then the tagged) field winning a name that several share,
// with none winning a tie.
func jsonFields(t reflect.Type) []field {
	type visit struct {
		t          reflect.Type
		index      []int
		viaPointer bool
	}
	var fields []field
	var current []visit
	next := []visit{{t: t}}
	var count map[reflect.Type]int
	nextCount := map[reflect.Type]int{}
	visited := map[reflect.Type]bool{}
	for len(next) > 0 {
		current, next = next, nil
		count, nextCount = nextCount, map[reflect.Type]int{}
		for _, v := range current {
			if visited[v.t] {
				continue
			}
			visited[v.t] = true
			for i := range v.t.NumField() {
				sf := v.t.Field(i)
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if sf.Anonymous {
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !validName(name) {
					name = ""
				}
				index := append(slices.Clone(v.index), i)
				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					f := field{
						name:       cmp.Or(name, sf.Name),
						goName:     sf.Name,
						typ:        sf.Type,
						owner:      v.t,
						index:      index,
						tagged:     name != "",
						omitEmpty:  hasOption(opts, "omitempty") || hasOption(opts, "omitzero"),
						quoted:     hasOption(opts, "string") && quotable(ft.Kind()),
						viaPointer: v.viaPointer,
					}
					fields = append(fields, f)
					if count[v.t] > 1 {
						// The same struct embedded twice at one depth: its
						// fields tie with themselves and are dropped.
						fields = append(fields, f)
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					next = append(next, visit{t: ft, index: index, viaPointer: v.viaPointer || sf.Type.Kind() == reflect.Pointer})
				}
			}
		}
	}

	slices.SortStableFunc(fields, func(a, b field) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.index), len(b.index)); c != 0 {
			return c
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return 1
		}
		return slices.Compare(a.index, b.index)
	})
	var out []field
	for i := 0; i < len(fields); {
		j := i + 1
		for j < len(fields) && fields[j].name == fields[i].name {
			j++
		}
		group := fields[i:j]
		if len(group) == 1 || len(group[0].index) < len(group[1].index) || group[0].tagged && !group[1].tagged {
			out = append(out, group[0])
		}
		i = j
	}
	slices.SortFunc(out, func(a, b field) int { return slices.Compare(a.index, b.index) })
	return out
}

func hasOption(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}

func quotable(k reflect.Kind) bool {
	switch k {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// validName is encoding/json's test of a tag's name.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}
