package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestKeysAreTheLoaders: every key a loader switch accepts (case "key" on
// m.key) is in Keys, so the documentation test below sees every key.
func TestKeysAreTheLoaders(t *testing.T) {
	names := map[string]bool{}
	for _, k := range Keys() {
		names[k.Name] = true
	}
	fset := token.NewFileSet()
	for _, file := range []string{"load.go", "notify.go", "org.go", "remediation.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		isMKey := func(e ast.Expr) bool {
			s, ok := e.(*ast.SelectorExpr)
			return ok && s.Sel.Name == "key"
		}
		lit := func(e ast.Expr) (string, bool) {
			if b, ok := e.(*ast.BasicLit); ok && b.Kind == token.STRING {
				s, err := strconv.Unquote(b.Value)
				return s, err == nil
			}
			return "", false
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sw, ok := n.(*ast.SwitchStmt)
			if !ok {
				return true
			}
			for _, st := range sw.Body.List {
				for _, e := range st.(*ast.CaseClause).List {
					var key string
					switch {
					case sw.Tag != nil && isMKey(sw.Tag):
						key, ok = lit(e)
					case sw.Tag == nil:
						if be, isBin := e.(*ast.BinaryExpr); isBin && be.Op == token.EQL && isMKey(be.X) {
							key, ok = lit(be.Y)
						} else {
							ok = false
						}
					default:
						ok = false
					}
					if ok && !names[key] {
						t.Errorf("%s: the loader accepts %q, which Keys does not list", fset.Position(e.Pos()), key)
					}
				}
			}
			return true
		})
	}
}

// TestExamplesREADMEDocumentsEveryKey: examples/README.md documents every
// key the loader accepts, as `name` in the part of the page about its
// section (under a heading naming the section, or its top section), and a
// key at the top of a file anywhere.
func TestExamplesREADMEDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../../examples/README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	level := func(l string) int {
		n := len(l) - len(strings.TrimLeft(l, "#"))
		if n > 0 && strings.HasPrefix(l[n:], " ") {
			return n
		}
		return 0
	}
	// block is the text under every heading naming section in backticks
	// (or the file's name), down to the next heading of its level or above.
	block := func(section string) string {
		var out []string
		for i, l := range lines {
			lv := level(l)
			if lv == 0 || !strings.Contains(l, "`"+section+"`") && !strings.Contains(l, " "+section) {
				continue
			}
			for j := i; j < len(lines); j++ {
				if j > i && level(lines[j]) > 0 && level(lines[j]) <= lv {
					break
				}
				out = append(out, lines[j])
			}
		}
		return strings.Join(out, "\n")
	}
	for _, k := range Keys() {
		text := string(b)
		switch {
		case k.Section != "":
			text = block(k.Section)
			if text == "" {
				text = block(strings.Split(k.Section, ".")[0])
			}
		case k.File != ConfigFile:
			text = block(k.File)
		}
		re := regexp.MustCompile("`\"?" + regexp.QuoteMeta(k.Name) + "\"?`")
		if !re.MatchString(text) {
			where := "anywhere"
			switch {
			case k.Section != "":
				where = "under a heading naming `" + k.Section + "` (or `" + strings.Split(k.Section, ".")[0] + "`)"
			case k.File != ConfigFile:
				where = "under the heading " + k.File
			}
			t.Errorf("examples/README.md does not document %s key %s (want `%s` %s)", k.File, k.Path(), k.Name, where)
		}
	}
	if strings.Contains(string(b), "is planned") {
		t.Error("examples/README.md still calls something planned")
	}
}
