package main

import (
	"cmp"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// config says what to generate and how.
type config struct {
	// header starts the file.
	header string
	// roots are the types to declare, in this order; the types they use
	// follow each where first used.
	roots []root
	// local says whether a package's structs are declared in full (ours);
	// the others are Record<string, unknown> unless typed lists them.
	local func(pkgPath string) bool
	// typed lists the structs from outside local packages that get an
	// interface, and the local ones whose interface types only some
	// members: the JSON names typed, nil for all. An interface of some
	// members allows the others as [key: string]: unknown.
	typed map[reflect.Type][]string
	// fixed are the TypeScript types of types that marshal themselves.
	fixed map[reflect.Type]string
	// fieldTypes override the TypeScript type of a struct's field (by its
	// Go name), for string unions the front end relies on.
	fieldTypes map[fieldKey]string
	// mirrors are the tool's copies of unexported types, declared under
	// the root's name; the copy must match the original field by field.
	mirrors map[reflect.Type]mirror
	// source reads a package's doc comments and struct fields.
	source func(pkgPath string) (*sourcePackage, error)
}

type root struct {
	typ reflect.Type
	// name replaces the Go name; doc is used when the Go type has none.
	name, doc string
}

type fieldKey struct {
	typ   reflect.Type
	field string
}

// mirror names the unexported type a copy stands for.
type mirror struct {
	pkgPath, name string
}

// reserved are global TypeScript names a declaration must not shadow.
var reserved = map[string]bool{
	"Array": true, "Boolean": true, "Date": true, "Error": true, "Function": true, "Map": true,
	"Number": true, "Object": true, "Promise": true, "Record": true, "Set": true, "String": true, "Symbol": true,
}

type generator struct {
	config
	decls    []*strings.Builder
	names    map[reflect.Type]string
	types    map[string]reflect.Type
	done     map[reflect.Type]bool
	sources  map[string]*sourcePackage
	warnings map[string]bool
	errs     []error
}

// generate renders the TypeScript declarations of cfg's roots. Warnings
// say where a type was left loose (unknown, Record<string, unknown>).
func generate(cfg config) ([]byte, []string, error) {
	g := &generator{
		config:   cfg,
		names:    map[reflect.Type]string{},
		types:    map[string]reflect.Type{},
		done:     map[reflect.Type]bool{},
		sources:  map[string]*sourcePackage{},
		warnings: map[string]bool{},
	}
	for _, r := range cfg.roots {
		if r.name != "" {
			g.claim(r.name, r.typ)
		}
	}
	for _, r := range cfg.roots {
		if r.typ.Name() == "" || r.typ.Kind() != reflect.Struct && !composite(r.typ.Kind()) {
			g.fail("root %s: not a named struct, slice, array or map type", r.typ)
			continue
		}
		g.declare(r.typ, r.doc)
	}
	if len(g.errs) > 0 {
		return nil, nil, errors.Join(g.errs...)
	}
	var b strings.Builder
	b.WriteString(cfg.header)
	for _, d := range g.decls {
		b.WriteString("\n")
		b.WriteString(d.String())
	}
	return []byte(b.String()), slices.Sorted(maps.Keys(g.warnings)), nil
}

func (g *generator) fail(format string, args ...any) {
	g.errs = append(g.errs, fmt.Errorf(format, args...))
}

func (g *generator) warn(format string, args ...any) {
	g.warnings[fmt.Sprintf(format, args...)] = true
}

// claim gives t the TypeScript name, refusing one that is taken.
func (g *generator) claim(name string, t reflect.Type) {
	if other, ok := g.types[name]; ok && other != t {
		g.fail("%s and %s would both be declared as %s: rename one in roots", other, t, name)
	}
	if reserved[name] {
		g.fail("%s would be declared as %s, which shadows TypeScript's own: rename it in roots", t, name)
	}
	if !identifier.MatchString(name) {
		g.fail("%s: %q is not a TypeScript name", t, name)
	}
	g.types[name], g.names[t] = t, name
}

var identifier = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

func implements(t, iface reflect.Type) bool {
	return t.Implements(iface) || t.Kind() != reflect.Interface && reflect.PointerTo(t).Implements(iface)
}

// qualified is t's name with its package path.
func qualified(t reflect.Type) string {
	if t.Name() == "" {
		return t.String()
	}
	return t.PkgPath() + "." + t.Name()
}

func composite(k reflect.Kind) bool {
	return k == reflect.Slice || k == reflect.Array || k == reflect.Map
}

// ref is the TypeScript type of t's JSON, declaring the named types it
// needs. Nil slices and maps are taken to be sent as [] and {}: the back
// end's convention (see orEmpty); a nil pointer is null.
func (g *generator) ref(t reflect.Type) string {
	if ts, ok := g.fixed[t]; ok {
		return ts
	}
	if t.Kind() == reflect.Pointer {
		return g.ref(t.Elem()) + " | null"
	}
	if implements(t, jsonMarshaler) {
		g.warn("%s marshals itself: typed as unknown; give it a type in fixedTypes", qualified(t))
		return "unknown"
	}
	if implements(t, textMarshaler) {
		return "string"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Interface:
		return "unknown"
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t, "")
		}
		return g.named(t)
	case reflect.Slice, reflect.Array, reflect.Map:
		if t.Name() != "" && g.local(t.PkgPath()) {
			return g.named(t)
		}
		return g.composite(t)
	}
	g.fail("%s: a %s has no JSON encoding", t, t.Kind())
	return "never"
}

// composite is a slice's, array's or map's type: T[], a tuple, or a
// Record.
func (g *generator) composite(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice:
		if e := t.Elem(); e.Kind() == reflect.Uint8 && !implements(e, jsonMarshaler) && !implements(e, textMarshaler) {
			return "string" // base64
		}
		return group(g.ref(t.Elem())) + "[]"
	case reflect.Array:
		e := g.ref(t.Elem())
		if t.Len() > 8 {
			return group(e) + "[]"
		}
		return "[" + strings.Join(slices.Repeat([]string{e}, t.Len()), ", ") + "]"
	default:
		switch k := t.Key(); {
		case k.Kind() == reflect.String, implements(k, textMarshaler):
		case k.Kind() >= reflect.Int && k.Kind() <= reflect.Uintptr:
		default:
			g.fail("%s: JSON cannot encode a map with %s keys", t, k)
		}
		return "Record<string, " + g.ref(t.Elem()) + ">"
	}
}

// group parenthesizes a union before [].
func group(ts string) string {
	if strings.Contains(ts, " ") {
		return "(" + ts + ")"
	}
	return ts
}

// named declares t (once) and returns its name; structs of packages not
// local nor typed are Record<string, unknown>.
func (g *generator) named(t reflect.Type) string {
	if g.done[t] {
		return g.names[t]
	}
	if _, ok := g.typed[t]; !ok && !g.local(t.PkgPath()) {
		g.warn("%s is typed as Record<string, unknown>: list it in typedTypes to declare it", qualified(t))
		return "Record<string, unknown>"
	}
	return g.declare(t, "")
}

// declare writes t's declaration where it is first used, then those of
// the types it uses.
func (g *generator) declare(t reflect.Type, fallbackDoc string) string {
	if g.done[t] {
		return g.names[t]
	}
	g.done[t] = true
	name, ok := g.names[t]
	if !ok {
		name = t.Name()
		if strings.ContainsAny(name, "[]") {
			g.fail("%s: generic types are not supported", t)
		}
		g.claim(name, t)
	}
	if m, ok := g.mirrors[t]; ok {
		g.checkMirror(t, m)
	}
	b := &strings.Builder{}
	g.decls = append(g.decls, b)
	writeDoc(b, "", cmp.Or(g.typeDoc(t), fallbackDoc))
	if t.Kind() != reflect.Struct {
		fmt.Fprintf(b, "export type %s = %s;\n", name, g.composite(t))
		return name
	}
	fmt.Fprintf(b, "export interface %s %s\n", name, g.object(t, ""))
	return name
}

// object is a struct's members as a TypeScript object type, each line
// indented after indent.
func (g *generator) object(t reflect.Type, indent string) string {
	fields := jsonFields(t)
	only, partial := g.typed[t]
	partial = partial && only != nil
	if partial {
		kept := fields[:0:0]
		for _, name := range only {
			i := slices.IndexFunc(fields, func(f field) bool { return f.name == name })
			if i < 0 {
				g.fail("typedTypes: %s has no JSON member %q", t, name)
				continue
			}
			kept = append(kept, fields[i])
		}
		slices.SortFunc(kept, func(a, b field) int { return slices.Compare(a.index, b.index) })
		fields = kept
	}
	if len(fields) == 0 && !partial {
		return "{}"
	}
	in := indent + "  "
	var b strings.Builder
	b.WriteString("{\n")
	for _, f := range fields {
		writeDoc(&b, in, g.fieldDoc(f))
		name := f.name
		if !identifier.MatchString(name) {
			name = "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(name) + "'"
		}
		optional := ""
		if f.omitEmpty || f.viaPointer {
			optional = "?"
		}
		fmt.Fprintf(&b, "%s%s%s: %s;\n", in, name, optional, g.member(f))
	}
	if partial {
		fmt.Fprintf(&b, "%s/** The members the console does not read. */\n%s[key: string]: unknown;\n", in, in)
	}
	b.WriteString(indent + "}")
	return b.String()
}

// member is a field's TypeScript type. A pointer that omitempty leaves
// out when nil is never null.
func (g *generator) member(f field) string {
	if ts, ok := g.fieldTypes[fieldKey{f.owner, f.goName}]; ok {
		return ts
	}
	t := f.typ
	if t.Kind() == reflect.Pointer && f.omitEmpty {
		if _, ok := g.fixed[t]; !ok {
			t = t.Elem()
		}
	}
	if f.quoted {
		if t.Kind() == reflect.Pointer {
			return "string | null"
		}
		return "string"
	}
	if t.Kind() == reflect.Struct && t.Name() == "" {
		return g.object(t, "  ")
	}
	return g.ref(t)
}

// checkMirror fails unless copy t has the fields of the type it mirrors.
func (g *generator) checkMirror(t reflect.Type, m mirror) {
	src := g.sourceOf(m.pkgPath)
	want, ok := src.structs[m.name]
	if !ok {
		g.fail("%s mirrors %s.%s, which is gone: update mirrors", t, m.pkgPath, m.name)
		return
	}
	var got []fieldSig
	for i := range t.NumField() {
		f := t.Field(i)
		got = append(got, fieldSig{name: f.Name, tag: string(f.Tag), typ: unqualified(f.Type.String())})
	}
	if !slices.Equal(got, want) {
		g.fail("%s no longer matches %s.%s:\n  copy:     %v\n  original: %v\nupdate the copy in tools/tsgen", t, m.pkgPath, m.name, got, want)
	}
}

// sourceOf reads a package's source once; a package that cannot be read
// only costs its doc comments.
func (g *generator) sourceOf(pkgPath string) *sourcePackage {
	if src, ok := g.sources[pkgPath]; ok {
		return src
	}
	src, err := g.source(pkgPath)
	if err != nil {
		g.warn("no doc comments of %s: %v", pkgPath, err)
		src = &sourcePackage{}
	}
	g.sources[pkgPath] = src
	return src
}

// where is the package and name under which t's source is found.
func (g *generator) where(t reflect.Type) (string, string) {
	if m, ok := g.mirrors[t]; ok {
		return m.pkgPath, m.name
	}
	return t.PkgPath(), t.Name()
}

func (g *generator) typeDoc(t reflect.Type) string {
	pkg, name := g.where(t)
	if pkg == "" {
		return ""
	}
	return g.sourceOf(pkg).docs[name]
}

// fieldDoc is a field's doc comment, starting with its JSON name where
// it starts with its Go name.
func (g *generator) fieldDoc(f field) string {
	pkg, name := g.where(f.owner)
	if pkg == "" || name == "" {
		return ""
	}
	doc := g.sourceOf(pkg).docs[name+"."+f.goName]
	if rest, ok := strings.CutPrefix(doc, f.goName); ok && (rest == "" || strings.ContainsRune(" ,:;.", rune(rest[0]))) {
		doc = f.name + rest
	}
	return doc
}

// writeDoc writes a JSDoc comment.
func writeDoc(b *strings.Builder, indent, doc string) {
	if doc == "" {
		return
	}
	doc = strings.ReplaceAll(doc, "*/", "*\\/")
	lines := strings.Split(doc, "\n")
	if len(lines) == 1 {
		fmt.Fprintf(b, "%s/** %s */\n", indent, doc)
		return
	}
	fmt.Fprintf(b, "%s/**\n", indent)
	for _, l := range lines {
		if l == "" {
			fmt.Fprintf(b, "%s *\n", indent)
		} else {
			fmt.Fprintf(b, "%s * %s\n", indent, l)
		}
	}
	fmt.Fprintf(b, "%s */\n", indent)
}
