package cli

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"strings"
	"testing"
)

// TestRunBuildsNoCommand: keywarden run, serve and the Lambda call the
// application layer (job.Run) over typed options; no command is built from
// argv inside the program, and the steps report through typed results, not
// a collector.
func TestRunBuildsNoCommand(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	funcs := map[string]*ast.FuncDecl{}
	for _, f := range pkgs["cli"].Files {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				name := fd.Name.Name
				if fd.Recv != nil {
					name = "method " + name
				}
				funcs[name] = fd
			}
			if gd, ok := d.(*ast.GenDecl); ok {
				for _, s := range gd.Specs {
					if ts, ok := s.(*ast.TypeSpec); ok && ts.Name.Name == "runCollector" {
						t.Error("the run collector is back: steps return typed results")
					}
				}
			}
		}
	}
	if funcs["runStep"] != nil {
		t.Error("runStep exists: run must call the steps over typed options, not rebuild commands")
	}
	for _, name := range []string{"runOnce", "runSteps", "method runOnce", "LambdaHandler"} {
		fd := funcs[name]
		if fd == nil {
			t.Fatalf("%s is gone: update this test", name)
		}
		ast.Inspect(fd, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			var id string
			switch fn := call.Fun.(type) {
			case *ast.Ident:
				id = fn.Name
				if id == "Run" {
					t.Errorf("%s calls Run(argv) at %s: call runOnce (job.Run) instead", name, fset.Position(call.Pos()))
				}
			case *ast.SelectorExpr:
				id = fn.Sel.Name
			}
			if (strings.HasPrefix(id, "new") && strings.HasSuffix(id, "Cmd")) || id == "ParseFlags" || id == "SetArgs" || id == "Execute" || id == "ExecuteContext" || id == "newRoot" {
				t.Errorf("%s calls %s at %s: it builds a command", name, id, fset.Position(call.Pos()))
			}
			return true
		})
	}
}
