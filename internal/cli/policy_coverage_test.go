package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keywarden/keywarden/internal/awstest"
	"github.com/keywarden/keywarden/internal/iampolicy"
)

// Every loopback AWS server of the suite, so that TestMain can check the
// IAM policy against every call the scenarios made.
var (
	serversMu sync.Mutex
	servers   []*awstest.Server
)

func registerServer(s *awstest.Server) {
	serversMu.Lock()
	servers = append(servers, s)
	serversMu.Unlock()
}

// noPermissionNeeded are calls AWS allows without any IAM permission.
var noPermissionNeeded = map[string]bool{"sts:GetCallerIdentity": true}

// TestMain runs the scenario suite, then (when the whole suite ran) checks
// that every AWS action the scenarios called is allowed by `keywarden
// policy`, and that every action the policies allow was called by some
// scenario: the documented policy is exactly what keywarden needs. DynamoDB
// actions are checked by the DynamoDB store's own suite.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && !testing.Short() {
		if msg := policyCoverage(); msg != "" {
			fmt.Fprintln(os.Stderr, "FAIL: IAM policy coverage:\n"+msg)
			code = 1
		}
	}
	os.Exit(code)
}

func policyCoverage() string {
	called := map[string]bool{}
	serversMu.Lock()
	for _, s := range servers {
		for _, c := range s.Calls() {
			called[iampolicy.Normalize(c.Service, c.Action)] = true
		}
	}
	serversMu.Unlock()
	allowed := map[string]bool{}
	for _, a := range iampolicy.AllActions() {
		if !strings.HasPrefix(a, "dynamodb:") {
			allowed[a] = true
		}
	}
	var notAllowed, neverCalled []string
	for a := range called {
		if !allowed[a] && !noPermissionNeeded[a] {
			notAllowed = append(notAllowed, a)
		}
	}
	for a := range allowed {
		if !called[a] {
			neverCalled = append(neverCalled, a)
		}
	}
	sort.Strings(notAllowed)
	sort.Strings(neverCalled)
	var msg []string
	if len(notAllowed) > 0 {
		msg = append(msg, "called but not in the policy (add to internal/iampolicy): "+strings.Join(notAllowed, ", "))
	}
	if len(neverCalled) > 0 {
		msg = append(msg, "in the policy but never called by a scenario (remove it, or test the feature): "+strings.Join(neverCalled, ", "))
	}
	return strings.Join(msg, "\n")
}

// TestPolicyCoverageCheckFails proves the check can fail: an action outside
// the policy is reported.
func TestPolicyCoverageCheckFails(t *testing.T) {
	s := awstest.New()
	defer s.Close()
	registered := func() []*awstest.Server {
		serversMu.Lock()
		defer serversMu.Unlock()
		return append([]*awstest.Server(nil), servers...)
	}()
	serversMu.Lock()
	servers = []*awstest.Server{s}
	serversMu.Unlock()
	defer func() { serversMu.Lock(); servers = registered; serversMu.Unlock() }()
	s.AddCaller(mainAKID, "main-secret", acctA, "keywarden")
	s.AddAccount(awstest.Account{ID: acctA})
	// A call keywarden never makes and its policy does not allow.
	_, _ = iam.NewFromConfig(s.Config(mainAKID, "main-secret")).CreateUser(context.Background(), &iam.CreateUserInput{UserName: aws.String("x")})
	msg := policyCoverage()
	if !strings.Contains(msg, "not in the policy (add to internal/iampolicy): iam:CreateUser") {
		t.Errorf("a call outside the policy is not reported: %q", msg)
	}
	if !strings.Contains(msg, "never called") || !strings.Contains(msg, "iam:UpdateAccessKey") {
		t.Errorf("actions no scenario called are not reported: %q", msg)
	}
}
