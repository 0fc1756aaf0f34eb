package dynamodb

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/iampolicy"
	"github.com/keywarden/keywarden/internal/issues/dynamodb/dynamotest"
)

// createOnly are the actions only store.create_tables uses: production
// tables come from deploy/terraform, so the runner policy leaves them out.
var createOnly = map[string]bool{"dynamodb:CreateTable": true}

// TestMain checks, after the whole suite ran against dynalite, that the
// DynamoDB actions the store called are exactly those the runner policy
// allows (internal/iampolicy, KeepIssues).
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	called := dynamotest.Actions()
	if code == 0 && len(called) > 0 && flag.Lookup("test.run").Value.String() == "" {
		allowed := map[string]bool{}
		for _, a := range iampolicy.RunnerActions["KeepIssues"] {
			allowed[a] = true
		}
		seen := map[string]bool{}
		var msg []string
		for _, a := range called {
			act := "dynamodb:" + a
			seen[act] = true
			if !allowed[act] && !createOnly[act] {
				msg = append(msg, "called but not allowed: "+act)
			}
		}
		for a := range allowed {
			if !seen[a] {
				msg = append(msg, "allowed but never called: "+a)
			}
		}
		if len(msg) > 0 {
			fmt.Fprintln(os.Stderr, "FAIL: DynamoDB IAM policy coverage (internal/iampolicy KeepIssues):\n  "+strings.Join(msg, "\n  "))
			code = 1
		}
	}
	os.Exit(code)
}
