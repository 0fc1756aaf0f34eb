package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/keywarden/keywarden/internal/awstest"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/issues/dynamodb"
	"github.com/keywarden/keywarden/internal/issues/dynamodb/dynamotest"
	"github.com/keywarden/keywarden/internal/notify/jira/jiratest"
)

// Issue 12 item 1, "Remediation waits for the report": as in Hammer's
// remediation (clean_iam_keys_inactive.py), an issue of a kind that
// reports is remediated only once its violation was reported, and
// remediation_retention_period counts from that report; with reporting off
// it counts from detection and the plan says so.

// gateConfig: inactive keys only, remediation on with the given retention;
// reporting as given; extra spliced into the top-level object.
func gateConfig(reporting bool, retention int, extra string) string {
	rep := "false"
	if reporting {
		rep = "true"
	}
	c := `{
  "aws": {"region": "us-east-1", "accounts": {"111111111111": "alpha"}},
  "user_inactivekeys": {"inactive_criteria_days": 90, "warning_days": 10, "reporting": ` + rep + `,
    "remediation": true, "remediation_retention_period": ` + itoa(retention) + `},
  "user_keysrotation": {"enabled": false, "rotation_criteria_days": 180},
  "user_inactivepasswords": {"enabled": false, "inactive_criteria_days": 90}`
	if extra != "" {
		c += ",\n  " + extra
	}
	return c + "\n}"
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// seedBob: bob's key was never used and is 100 days old, a violation of
// the 90-day rule; grace's key is in use.
func seedBob() awstest.Account {
	return awstest.Account{ID: acctA, Users: []awstest.User{
		{Name: "bob", Created: daysAgo(300), Keys: []awstest.Key{{ID: "AKIABOB0000000000001", Created: daysAgo(100)}}},
		{Name: "grace", Created: daysAgo(50), Keys: []awstest.Key{{ID: "AKIAGRACE00000000001", Created: daysAgo(50), LastUsed: at(daysAgo(0.5))}}},
	}}
}

const bobDeactivated = "111111111111 " + callerA + " UpdateAccessKey UserName=bob AccessKeyId=AKIABOB0000000000001 Status=Inactive"

// runAt runs keywarden with the clock (keywarden's and the AWS server's) at
// now, and environment variables env.
func (w *world) runAt(now time.Time, env map[string]string, args ...string) result {
	w.t.Helper()
	w.srv.SetClock(func() time.Time { return now })
	var out, errb bytes.Buffer
	e := Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] }, Now: func() time.Time { return now },
		AWSHTTPClient: w.srv.HTTPClient()}
	full := append([]string{"--config-dir", w.dir, "--db", w.db, "--log-level", "warn"}, args...)
	code := Run(context.Background(), e, full)
	return result{code, out.String(), errb.String()}
}

func (w *world) mustAt(now time.Time, env map[string]string, want int, args ...string) result {
	w.t.Helper()
	r := w.runAt(now, env, args...)
	if r.code != want {
		w.t.Fatalf("%v at %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, now.Format(time.RFC3339), r.code, want, r.stdout, r.stderr)
	}
	return r
}

// bobOutcome is the remediate JSON line of bob's key.
func bobOutcome(t *testing.T, r result) map[string]any {
	t.Helper()
	for _, line := range strings.Split(r.stdout, "\n") {
		var m map[string]any
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &m) != nil {
			continue // run --details --dry-run: the report's preview
		}
		if m["user"] == "bob" && m["op"] != nil { // a remediate outcome, not a finding
			return m
		}
	}
	t.Fatalf("no outcome for bob:\n%s\n%s", r.stdout, r.stderr)
	return nil
}

func wantOutcome(t *testing.T, r result, result, reason string, detail ...string) {
	t.Helper()
	o := bobOutcome(t, r)
	if o["result"] != result || (reason != "" && o["reason"] != reason) {
		t.Errorf("bob: result %v reason %v, want %s %s (detail %v)", o["result"], o["reason"], result, reason, o["detail"])
	}
	for _, d := range detail {
		if s, _ := o["detail"].(string); !strings.Contains(s, d) {
			t.Errorf("bob's detail %q lacks %q", o["detail"], d)
		}
	}
}

// The JIRA ticket fails: nothing is remediated, whatever the date and the
// retention, until the violation is reported. Once it is (a day later),
// the ticket states the auto-remediation date (report + 7 days), the plan
// counts from the report (day 6 not due, day 7 due), and the real run acts
// exactly then.
func TestRemediationWaitsForTheReport(t *testing.T) {
	jira := jiratest.New("bot@example.com", "jira-secret")
	t.Cleanup(jira.Close)
	w := newWorld(t, gateConfig(true, 7, `"jira": {"enabled": true, "server": "`+jira.URL+`", "user": "bot@example.com"}`))
	w.writeFile("ticket_owners.json", `{"jira_project": "AWSSEC", "jira_owner": "Support-General"}`)
	w.srv.AddAccount(seedBob())
	env := map[string]string{"KEYWARDEN_JIRA_TOKEN": "jira-secret"}
	w.mustAt(asOf, env, 0, "scan", "-o", "json")

	// JIRA is down: the report fails, the violation stays unreported.
	jira.Fail(1000)
	w.mustAt(asOf, env, 1, "report")
	jira.Fail(0)
	for _, as := range []time.Time{asOf, asOf.Add(30 * 24 * time.Hour)} {
		r := w.mustAt(asOf, env, 0, "remediate", "--dry-run", "--as-of", as.Format(time.RFC3339), "-o", "json")
		wantOutcome(t, r, "skipped", "not_reported", "not reported: the violation has not been delivered on any channel yet",
			"jira: pending after 1 attempt(s), last error:")
	}
	r := w.mustAt(asOf, env, 0, "remediate", "--yes", "-o", "json")
	wantOutcome(t, r, "skipped", "not_reported", "not reported")
	wantMutations(t, w.srv)

	// A day later JIRA is back: the ticket is opened and carries the date.
	reported := asOf.Add(24 * time.Hour)
	w.mustAt(reported, env, 0, "report")
	tickets := jira.Tickets()
	if len(tickets) != 1 {
		t.Fatalf("tickets: %+v", tickets)
	}
	if !strings.Contains(tickets[0].Description, "*Auto-Remediation Date*: 2026-12-03") {
		t.Errorf("the ticket does not state the auto-remediation date (reported 2026-11-26 + 7 days):\n%s", tickets[0].Description)
	}

	// Day 6 after the report: not due. Day 7: due.
	r = w.mustAt(reported, env, 0, "remediate", "--dry-run", "--as-of", reported.Add(6*24*time.Hour).Format(time.RFC3339), "-o", "json")
	wantOutcome(t, r, "skipped", "not_due", "reported 6 days ago, retention 7 (due 2026-12-03)")
	r = w.mustAt(reported, env, 0, "remediate", "--dry-run", "--as-of", reported.Add(2*24*time.Hour).Format(time.RFC3339))
	if !strings.Contains(r.stdout, "reported 2 days ago, retention 7 (due 2026-12-03)") {
		t.Errorf("the table plan does not say why bob's key is not due:\n%s", r.stdout)
	}
	r = w.mustAt(reported, env, 0, "remediate", "--dry-run", "--as-of", reported.Add(7*24*time.Hour).Format(time.RFC3339), "-o", "json")
	wantOutcome(t, r, "would remediate", "", "reported 7 days ago, retention 7 (due 2026-12-03)")
	wantMutations(t, w.srv)

	// The real runs, at the clock: the day before nothing; on the day, bob's key.
	r = w.mustAt(reported.Add(7*24*time.Hour-time.Minute), env, 0, "remediate", "--yes", "-o", "json")
	wantOutcome(t, r, "skipped", "not_due", "reported 6 days ago")
	wantMutations(t, w.srv)
	r = w.mustAt(reported.Add(7*24*time.Hour), env, 0, "remediate", "--yes", "-o", "json")
	wantOutcome(t, r, "remediated", "")
	wantMutations(t, w.srv, bobDeactivated)
}

// jiraSlackOn turns JIRA and Slack on globally (no token needed to plan).
const jiraSlackOn = `"jira": {"enabled": true, "server": "https://jira.example.com", "user": "bot@example.com"},
  "slack": {"enabled": true}`

// switchKind adds Hammer's per-check switches (e.g. `"jira": false`) to the
// inactive-keys section of a gateConfig.
func switchKind(cfg, switches string) string {
	return strings.Replace(cfg, `"remediation": true,`, `"remediation": true, `+switches+`,`, 1)
}

// Reporting off: the retention counts from detection, and the plan says so
// for an issue due and one not yet due. A kind whose section switches every
// configured channel off (Hammer's per-check "jira": false, "slack": false)
// is never reported: reporting is off for it too.
func TestRemediationReportingOffCountsFromDetection(t *testing.T) {
	for _, c := range []struct {
		name, cfg string
	}{
		{"reporting false", gateConfig(false, 7, "")},
		{"reporting true, no channel", gateConfig(true, 7, "")},
		{"reporting true, every channel switched off for the kind",
			switchKind(gateConfig(true, 7, jiraSlackOn), `"jira": false, "slack": {"enabled": "false"}`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, c.cfg)
			w.srv.AddAccount(seedBob())
			w.mustAt(asOf, nil, 0, "scan", "-o", "json")
			r := w.mustAt(asOf, nil, 0, "remediate", "--dry-run", "-o", "json")
			wantOutcome(t, r, "skipped", "not_due",
				"reporting off: retention counts from detection; detected today, retention 7 (due 2026-12-02)")
			r = w.mustAt(asOf, nil, 0, "remediate", "--dry-run", "--as-of", asOf.Add(7*24*time.Hour).Format(time.RFC3339), "-o", "json")
			wantOutcome(t, r, "would remediate", "", "reporting off: retention counts from detection; detected 7 days ago")
			r = w.mustAt(asOf.Add(7*24*time.Hour), nil, 0, "remediate", "--yes", "-o", "json")
			wantOutcome(t, r, "remediated", "")
			wantMutations(t, w.srv, bobDeactivated)
		})
	}
}

// A kind that switches one channel off still reports on the others: its
// remediation waits for that report.
func TestRemediationOneChannelSwitchedOff(t *testing.T) {
	w := newWorld(t, switchKind(gateConfig(true, 0, jiraSlackOn), `"jira": false`))
	w.srv.AddAccount(seedBob())
	w.mustAt(asOf, nil, 0, "scan", "-o", "json")
	r := w.mustAt(asOf, nil, 0, "remediate", "--dry-run", "-o", "json")
	wantOutcome(t, r, "skipped", "not_reported", "not reported")
}

// run reports before it remediates: with retention 0 a violation detected
// and reported in one run is remediated in that run, after its report (the
// Slack notice states the date); when the report fails, it is not.
func TestRunReportsBeforeRemediating(t *testing.T) {
	t.Run("report sent", func(t *testing.T) {
		topic := "arn:aws:sns:us-east-1:111111111111:keywarden"
		w := newWorld(t, gateConfig(true, 0, `"sns": {"topic_arn": "`+topic+`"}`))
		w.srv.AddAccount(seedBob())
		w.srv.AddTopic(topic)
		hook := newWebhook(t)
		env := map[string]string{"KEYWARDEN_SLACK_WEBHOOK_URL": hook.URL + "/services/T0/B0/X"}
		r := w.mustAt(asOf, env, 0, "run", "--details", "-o", "json")
		_, payloads := hook.got()
		if len(payloads) != 1 {
			t.Fatalf("slack payloads: %d", len(payloads))
		}
		if body, _ := json.Marshal(payloads[0]); !strings.Contains(string(body), "keywarden deactivates it on 2026-11-25") {
			t.Errorf("the notice does not state the remediation date:\n%s", body)
		}
		if pub := w.srv.Published(); len(pub) != 1 || !strings.Contains(pub[0].Message, `"remediation_date":"2026-11-25T12:00:00Z"`) {
			t.Errorf("the SNS notice does not state the remediation date: %+v", pub)
		}
		wantOutcome(t, r, "remediated", "")
		wantMutations(t, w.srv, bobDeactivated)
	})
	t.Run("dry run", func(t *testing.T) {
		w := newWorld(t, gateConfig(true, 0, ""))
		w.srv.AddAccount(seedBob())
		hook := newWebhook(t)
		env := map[string]string{"KEYWARDEN_SLACK_WEBHOOK_URL": hook.URL + "/services/T0/B0/X"}
		w.mustAt(asOf, env, 0, "scan", "-o", "json") // a dry run tracks nothing: the issue comes from a scan
		r := w.mustAt(asOf, env, 0, "run", "--dry-run", "--details", "-o", "json")
		wantOutcome(t, r, "skipped", "not_reported", "this run's report was a dry run: a real run reports it first")
		if n, _ := hook.got(); n != 0 {
			t.Errorf("a dry run sent %d slack messages", n)
		}
		wantMutations(t, w.srv)
	})
	t.Run("report failed", func(t *testing.T) {
		w := newWorld(t, gateConfig(true, 0, ""))
		w.srv.AddAccount(seedBob())
		hook := newWebhook(t)
		hook.down = 1000
		env := map[string]string{"KEYWARDEN_SLACK_WEBHOOK_URL": hook.URL + "/services/T0/B0/X"}
		r := w.mustAt(asOf, env, 1, "run", "--details", "-o", "json")
		wantOutcome(t, r, "skipped", "not_reported", "not reported", "slack webhook: pending after")
		wantMutations(t, w.srv)
		// The next run's report gets through: remediated then, not before.
		hook.down = 0
		later := asOf.Add(time.Hour)
		r = w.mustAt(later, env, 0, "run", "--details", "-o", "json")
		wantOutcome(t, r, "remediated", "")
		wantMutations(t, w.srv, bobDeactivated)
	})
}

// slack.remediation_warning_days (Hammer's): the owner is warned on Slack
// at each stage before keywarden acts ("will be deactivated on DATE"), and
// nothing is remediated before a warning was sent; when the runs missed
// the stages, the late warning gives the nearest stage's days before
// acting.
func TestRemediationWarningDays(t *testing.T) {
	slackCfg := `"slack": {"enabled": true, "remediation_warning_days": [3, "1"]}`
	t.Run("on schedule", func(t *testing.T) {
		w := newWorld(t, gateConfig(true, 7, slackCfg))
		w.srv.AddAccount(seedBob())
		hook := newWebhook(t)
		env := map[string]string{"KEYWARDEN_SLACK_WEBHOOK_URL": hook.URL + "/services/T0/B0/X"}
		w.mustAt(asOf, env, 0, "scan", "-o", "json")
		w.mustAt(asOf, env, 0, "report")
		r := w.mustAt(asOf, env, 0, "remediate", "--dry-run", "--as-of", asOf.Add(7*24*time.Hour).Format(time.RFC3339), "-o", "json")
		wantOutcome(t, r, "skipped", "not_due", "reported 7 days ago, retention 7 (due 2026-12-02); no remediation warning sent yet")
		texts := func() []string {
			_, ps := hook.got()
			var out []string
			for _, p := range ps {
				b, _ := json.Marshal(p)
				out = append(out, string(b))
			}
			return out
		}
		steps := []struct {
			day      int
			payloads int
		}{{1, 1}, {4, 2}, {5, 2}, {6, 3}}
		for _, st := range steps {
			w.mustAt(asOf.Add(time.Duration(st.day)*24*time.Hour), env, 0, "report")
			if got := texts(); len(got) != st.payloads {
				t.Fatalf("day %d: %d slack messages, want %d:\n%s", st.day, len(got), st.payloads, strings.Join(got, "\n"))
			}
		}
		got := texts()
		for _, i := range []int{1, 2} {
			if !strings.Contains(got[i], "To be remediated") || !strings.Contains(got[i], "will be deactivated on 2026-12-02") {
				t.Errorf("warning %d does not say when:\n%s", i, got[i])
			}
		}
		r = w.mustAt(asOf.Add(7*24*time.Hour-time.Minute), env, 0, "remediate", "--yes", "-o", "json")
		wantOutcome(t, r, "skipped", "not_due", "reported 6 days ago, retention 7 (due 2026-12-02)")
		wantMutations(t, w.srv)
		r = w.mustAt(asOf.Add(7*24*time.Hour), env, 0, "remediate", "--yes", "-o", "json")
		wantOutcome(t, r, "remediated", "")
		wantMutations(t, w.srv, bobDeactivated)
	})
	t.Run("late warning", func(t *testing.T) {
		w := newWorld(t, gateConfig(true, 7, slackCfg))
		w.srv.AddAccount(seedBob())
		hook := newWebhook(t)
		env := map[string]string{"KEYWARDEN_SLACK_WEBHOOK_URL": hook.URL + "/services/T0/B0/X"}
		w.mustAt(asOf, env, 0, "run")
		// No run for a week: the next one warns (the nearest stage, 1 day)
		// and acts a day later, not at once.
		day7 := asOf.Add(7 * 24 * time.Hour)
		r := w.mustAt(day7, env, 0, "run", "--details", "-o", "json")
		wantOutcome(t, r, "skipped", "not_due", "first warned today, 1 day before acting (due 2026-12-03)")
		_, ps := hook.got()
		if b, _ := json.Marshal(ps[len(ps)-1]); len(ps) != 2 || !strings.Contains(string(b), "will be deactivated on 2026-12-03") {
			t.Errorf("late warning (%d messages):\n%s", len(ps), b)
		}
		wantMutations(t, w.srv)
		r = w.mustAt(day7.Add(24*time.Hour), env, 0, "run", "--details", "-o", "json")
		wantOutcome(t, r, "remediated", "")
		wantMutations(t, w.srv, bobDeactivated)
	})
}

// The gate on Hammer's tables (store.type dynamodb on dynalite), with SNS on
// the loopback AWS server as the channel: a failing Publish keeps the
// violation unreported (timestamps.reported unset, nothing remediated);
// once published, the row's reported time is the report and the retention
// counts from it.
func TestRemediationWaitsForTheReportDynamoDB(t *testing.T) {
	ep := dynamotest.Endpoint(t)
	prefix := fmt.Sprintf("gate%d-%d-", time.Now().UnixNano()%1_000_000, dynamoSeq.Add(1))
	topic := "arn:aws:sns:us-east-1:111111111111:keywarden"
	w := newWorld(t, gateConfig(true, 7, `"store": {"type": "dynamodb", "endpoint": "`+ep+`", "table_prefix": "`+prefix+`", "create_tables": true},
  "sns": {"topic_arn": "`+topic+`"}`))
	w.srv.AddAccount(seedBob())
	w.srv.AddTopic(topic)
	w.mustAt(asOf, nil, 0, "scan", "-o", "json")
	w.srv.Inject(awstest.Fault{Action: "Publish", Code: "InternalError", Status: 500, Times: 100})
	w.mustAt(asOf, nil, 1, "report")
	w.srv.ClearFaults()
	r := w.mustAt(asOf, nil, 0, "remediate", "--dry-run", "--as-of", asOf.Add(30*24*time.Hour).Format(time.RFC3339), "-o", "json")
	wantOutcome(t, r, "skipped", "not_reported", "not reported", "sns: pending after")
	reported := asOf.Add(24 * time.Hour)
	w.mustAt(reported, nil, 0, "report")
	if pub := w.srv.Published(); len(pub) != 1 || !strings.Contains(pub[0].Message, `"remediation_date":"2026-12-03T12:00:00Z"`) {
		t.Errorf("the SNS notice does not state the remediation date: %+v", pub)
	}
	client := ddb.New(ddb.Options{BaseEndpoint: aws.String(ep), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")})
	st, err := dynamodb.New(context.Background(), client, dynamodb.Options{TablePrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	list, err := st.List(context.Background(), issues.Filter{})
	if err != nil || len(list) != 1 || list[0].Reported == nil || !list[0].Reported.Equal(reported) {
		t.Fatalf("issues after the report (timestamps.reported should be the report, %s): %+v %v", reported, list, err)
	}
	r = w.mustAt(reported, nil, 0, "remediate", "--dry-run", "--as-of", reported.Add(6*24*time.Hour).Format(time.RFC3339), "-o", "json")
	wantOutcome(t, r, "skipped", "not_due", "reported 6 days ago, retention 7 (due 2026-12-03)")
	r = w.mustAt(reported.Add(7*24*time.Hour), nil, 0, "remediate", "--yes", "-o", "json")
	wantOutcome(t, r, "remediated", "")
	wantMutations(t, w.srv, bobDeactivated)
}
