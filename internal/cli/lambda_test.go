package cli

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keywarden/keywarden/internal/awstest"
)

// scheduledEvent is a real EventBridge scheduled event, as Lambda receives it.
const scheduledEvent = `{
  "version": "0",
  "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
  "detail-type": "Scheduled Event",
  "source": "aws.events",
  "account": "111111111111",
  "time": "2026-11-25T12:00:00Z",
  "region": "us-east-1",
  "resources": ["arn:aws:events:us-east-1:111111111111:rule/keywarden-schedule"],
  "detail": {}
}`

// TestLambdaHandlerScheduledEvent invokes the Lambda handler through
// aws-lambda-go's own handler wrapper with a real EventBridge payload; the
// configuration comes from SSM Parameter Store (on the loopback server).
func TestLambdaHandlerScheduledEvent(t *testing.T) {
	w := newWorld(t, runConfig)
	w.srv.AddTopic("arn:aws:sns:us-east-1:111111111111:keywarden-notifications")
	w.srv.AddAccount(seedAlpha())
	w.srv.AddAccount(awstest.Account{ID: acctB, Users: []awstest.User{
		{Name: "zoe", Created: daysAgo(400), Keys: []awstest.Key{{ID: "AKIAZOE0000000000001", Created: daysAgo(365)}}},
	}})
	w.srv.PutParameter("/keywarden/prod/config.json", runConfig)
	w.srv.PutParameter("/keywarden/prod/whitelist.json", `{"user_inactivekeys": {"111111111111": ["bob"]}}`)
	t.Setenv("TMPDIR", t.TempDir()) // the handler's SQLite file and config folder
	vars := map[string]string{LambdaConfigSSMEnv: "/keywarden/prod", LambdaConfigDirEnv: filepath.Join(w.dir, "unused")}
	env := Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard,
		Getenv: func(k string) string { return vars[k] }, Now: func() time.Time { return asOf.Add(99 * time.Hour) },
		AWSHTTPClient: w.srv.HTTPClient()}
	h := lambda.NewHandler(LambdaHandler(env))
	out, err := h.Invoke(context.Background(), []byte(scheduledEvent))
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	var sum RunSummary
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	if sum.Result != "ok" || sum.Accounts != 2 || !sum.AsOf.Equal(asOf) {
		t.Errorf("summary: %+v (as-of must be the event's time)", sum)
	}
	// bob is whitelisted by the SSM whitelist.json: never deactivated.
	for _, c := range w.srv.Calls() {
		if c.Action == "UpdateAccessKey" && c.Params.Get("UserName") == "bob" {
			t.Errorf("bob's key deactivated despite the SSM whitelist")
		}
	}
	if n := w.srv.CountCalls("", "GetParameter"); n != 3 {
		t.Errorf("GetParameter calls: %d, want 3 (ticket_owners.json is optional and absent)", n)
	}
	if _, err := os.Stat(filepath.Join(os.TempDir(), "keywarden.db")); err != nil {
		t.Errorf("the SQLite store was not on the Lambda's temp disk: %v", err)
	}

	// A missing config.json parameter fails the invocation with a clear error.
	vars[LambdaConfigSSMEnv] = "/keywarden/missing"
	if _, err := h.Invoke(context.Background(), []byte(scheduledEvent)); err == nil || !strings.Contains(err.Error(), "/keywarden/missing/config.json") {
		t.Errorf("missing parameter: %v", err)
	}
}
