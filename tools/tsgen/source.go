package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// sourcePackage is what reflection cannot see of a package: the doc
// comments of its types and their fields, and the fields of its structs
// as written (to check a mirror of an unexported type).
type sourcePackage struct {
	// docs by "Type" and "Type.Field".
	docs    map[string]string
	structs map[string][]fieldSig
}

// fieldSig is a struct field as written, with package qualifiers dropped
// from its type so that source and reflection compare.
type fieldSig struct {
	name, tag, typ string
}

// goListSource finds a package's files with `go list`, run in dir, and
// parses them.
func goListSource(dir, pkgPath string) (*sourcePackage, error) {
	cmd := exec.Command("go", "list", "-f", "{{.Dir}}{{range .GoFiles}}\n{{.}}{{end}}", pkgPath)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w", pkgPath, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	files := make([]string, 0, len(lines)-1)
	for _, f := range lines[1:] {
		files = append(files, filepath.Join(lines[0], f))
	}
	return parseSource(files...)
}

func parseSource(files ...string) (*sourcePackage, error) {
	src := &sourcePackage{docs: map[string]string{}, structs: map[string][]fieldSig{}}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, s := range gd.Specs {
				ts := s.(*ast.TypeSpec)
				doc := ts.Doc
				if doc == nil && len(gd.Specs) == 1 {
					doc = gd.Doc
				}
				src.docs[ts.Name.Name] = cleanDoc(doc)
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				var sigs []fieldSig
				for _, fl := range st.Fields.List {
					doc := fl.Doc
					if doc == nil {
						doc = fl.Comment
					}
					tag := ""
					if fl.Tag != nil {
						tag, _ = strconv.Unquote(fl.Tag.Value)
					}
					typ := unqualified(types.ExprString(fl.Type))
					names := make([]string, 0, len(fl.Names))
					for _, n := range fl.Names {
						names = append(names, n.Name)
					}
					if len(names) == 0 {
						names = append(names, strings.TrimPrefix(typ, "*"))
					}
					for _, n := range names {
						src.docs[ts.Name.Name+"."+n] = cleanDoc(doc)
						sigs = append(sigs, fieldSig{name: n, tag: tag, typ: typ})
					}
				}
				src.structs[ts.Name.Name] = sigs
			}
		}
	}
	return src, nil
}

var (
	qualifier  = regexp.MustCompile(`\b[A-Za-z_][A-Za-z0-9_]*\.`)
	blankLines = regexp.MustCompile(`\n{3,}`)
)

// unqualified drops package names from a type's spelling: "[]v1.EnvVar"
// and "[]corev1.EnvVar" are both "[]EnvVar".
func unqualified(typ string) string {
	return qualifier.ReplaceAllString(typ, "")
}

// cleanDoc is a comment's text without Kubernetes' markers (+optional,
// +listType=...) and what follows a "---" line, which Kubernetes' API
// docs leave out too.
func cleanDoc(g *ast.CommentGroup) string {
	if g == nil {
		return ""
	}
	var b bytes.Buffer
	for _, l := range strings.Split(g.Text(), "\n") {
		t := strings.TrimSpace(l)
		if t == "---" {
			break
		}
		if strings.HasPrefix(t, "+") {
			continue
		}
		b.WriteString(strings.TrimRight(l, " \t"))
		b.WriteByte('\n')
	}
	return strings.TrimSpace(blankLines.ReplaceAllString(b.String(), "\n\n"))
}
