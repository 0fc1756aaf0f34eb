package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keywarden/keywarden/internal/awstest"
)

// hugeConfig: every threshold and retention at the largest accepted count
// (100 years), remediation on. Before date arithmetic saturated, a count
// this size was one overflow away from "every credential is a violation".
const hugeConfig = `{
  "aws": {"region": "us-east-1", "accounts": {"111111111111": "alpha"}},
  "user_inactivekeys": {"inactive_criteria_days": 36500, "warning_days": "36499", "remediation": true, "remediation_retention_period": "36500"},
  "user_keysrotation": {"rotation_criteria_days": "36500", "warning_days": 30, "remediation": true, "remediation_retention_period": 0},
  "user_inactivepasswords": {"inactive_criteria_days": "36500", "remediation": true, "remediation_retention_period": 0}
}`

// TestHugeThresholdsNeverFlagFreshKeys (issue 10, defect 3): thresholds of
// 36,500 days never make a fresh (or ten-year-old) credential a violation,
// and remediate --yes deactivates nothing.
func TestHugeThresholdsNeverFlagFreshKeys(t *testing.T) {
	w := newWorld(t, hugeConfig)
	w.srv.AddAccount(awstest.Account{ID: acctA, Users: []awstest.User{
		{Name: "alice", Created: daysAgo(800), Keys: []awstest.Key{
			{ID: "AKIAALICE0000000NEW1", Created: daysAgo(2), LastUsed: at(daysAgo(1))},
			{ID: "AKIAALICE0000000OLD2", Created: daysAgo(3650)},
		}},
		{Name: "carol", Created: daysAgo(3650), LoginProfile: &awstest.LoginProfile{Created: daysAgo(3650)}, PasswordLastUsed: at(daysAgo(1))},
	}})
	r := w.scan(0, "-o", "json", "--fail-on", "violation")
	fs := jsonLines(t, r.stdout)
	for _, f := range fs {
		if f["stage"] != "warning" || f["days_left"].(float64) < 30000 {
			t.Errorf("with 100-year thresholds: %v", f)
		}
	}
	if len(fs) != 2 {
		t.Errorf("%d findings, want the 2 inactive-key warnings (36,499-day warning window)\n%s", len(fs), r.stdout)
	}
	if !strings.Contains(r.stderr, "0 violations") {
		t.Errorf("summary: %s", r.stderr)
	}
	w.remediate(0, "--yes")
	wantMutations(t, w.srv)

	// One day more is refused, naming the key and the fix.
	w.writeFile("config.json", strings.Replace(hugeConfig, `"inactive_criteria_days": 36500`, `"inactive_criteria_days": 999999`, 1))
	r = w.run("scan", "--as-of", asOf.Format(time.RFC3339))
	if r.code != ExitUsage || !strings.Contains(r.stderr, `user_inactivekeys.inactive_criteria_days: 999999 is more than 36500 days (100 years); set at most 36500, or use "enabled": false to switch a check off`) {
		t.Errorf("999999 days: exit %d\n%s", r.code, r.stderr)
	}
}

// twoAccounts: baseConfig's checks on accounts A and B.
const twoAccounts = `{
  "aws": {"region": "us-east-1", "accounts": {"111111111111": "alpha", "222222222222": "beta"}},
  "user_inactivekeys": {"inactive_criteria_days": 90, "warning_days": 10},
  "user_keysrotation": {"rotation_criteria_days": 180, "warning_days": 10},
  "user_inactivepasswords": {"inactive_criteria_days": 90, "warning_days": 10}
}`

func seedBeta() awstest.Account {
	return awstest.Account{ID: acctB, Users: []awstest.User{
		{Name: "zoe", Created: daysAgo(900), Keys: []awstest.Key{{ID: "AKIAZOE0000000000001", Created: daysAgo(800)}}},
	}}
}

// storeState is every issue of the store, as issues list shows them (IDs,
// detection dates, statuses, close reasons...).
func storeState(t *testing.T, w *world) string {
	t.Helper()
	r := w.run("issues", "list", "--status", "all", "-o", "json", "--show-key-ids")
	if r.code != 0 {
		t.Fatalf("issues list: exit %d\n%s", r.code, r.stderr)
	}
	return r.stdout
}

// TestAsOfPastNeverRewritesHistory (issue 10, defect 4): a scan as of a date
// before an account's last tracked scan shows its findings and leaves the
// account's issues alone (same IDs, detection dates, statuses), says so on
// stderr, and the next scan as of now reopens nothing under a new ID. An
// account with no tracked scan yet is tracked as usual.
func TestAsOfPastNeverRewritesHistory(t *testing.T) {
	w := newWorld(t, twoAccounts)
	w.srv.AddAccount(seedAlpha())
	w.srv.AddAccount(seedBeta())
	w.scan(0, "-o", "json", "--account", acctA, "--as-of", "2026-11-25")
	before := storeState(t, w)
	if n := len(jsonLines(t, before)); n < 5 {
		t.Fatalf("%d issues tracked, want alpha's", n)
	}

	r := w.scan(0, "-o", "json", "--as-of", "2025-01-01")
	want := "--as-of 2025-01-01 is before the last tracked scan of 111111111111 (2026-11-25): findings shown, issue store unchanged\n"
	if !strings.Contains(r.stderr, want) || strings.Contains(r.stderr, "of "+acctB) {
		t.Errorf("stderr:\n%s\nwant the line %q for alpha only", r.stderr, want)
	}
	untracked := w.run("scan", "--as-of", "2025-01-01", "--no-track", "-o", "json", "--account", acctA,
		"--report-poll-interval", "1ms", "--report-timeout", "200ms")
	if got := jsonLines(t, r.stdout); len(got) == 0 || !strings.Contains(r.stdout, untracked.stdout) {
		t.Errorf("findings as of 2025-01-01 not shown:\n%s\nwant (alpha's):\n%s", r.stdout, untracked.stdout)
	}
	after := storeState(t, w)
	var alphaAfter []string
	for _, is := range jsonLines(t, after) {
		if is["account"] == acctA {
			alphaAfter = append(alphaAfter, fmt.Sprint(is))
		}
	}
	var alphaBefore []string
	for _, is := range jsonLines(t, before) {
		alphaBefore = append(alphaBefore, fmt.Sprint(is))
	}
	if strings.Join(alphaAfter, "\n") != strings.Join(alphaBefore, "\n") {
		t.Errorf("alpha's issues changed by a scan as of 2025-01-01:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if !strings.Contains(after, `"AKIAZOE0000000000001"`) {
		t.Errorf("beta (never tracked) was not tracked as of 2025-01-01:\n%s", after)
	}

	// As of now (later than both): no issue of alpha reopened under a new ID.
	now := w.scan(0, "-o", "json")
	if strings.Contains(now.stderr, "issue store unchanged") {
		t.Errorf("scan as of now not tracked:\n%s", now.stderr)
	}
	ids := map[string]string{}
	for _, is := range jsonLines(t, before) {
		ids[fmt.Sprint(is["id"])] = fmt.Sprint(is["kind"], " ", is["subject"], " ", is["status"], " ", is["detected"])
	}
	for _, is := range jsonLines(t, storeState(t, w)) {
		if is["account"] != acctA {
			continue
		}
		id := fmt.Sprint(is["id"])
		if _, ok := ids[id]; !ok {
			t.Errorf("alpha issue %s is new after the scan as of now: %v", id, is)
		}
		if got := fmt.Sprint(is["kind"], " ", is["subject"], " ", is["status"], " ", is["detected"]); got != ids[id] {
			t.Errorf("issue %s: %s, was %s", id, got, ids[id])
		}
	}
}

// TestAsOfFutureNeverWrites: a scan as of a future date shows what will
// have expired then and writes nothing; the present is still tracked after.
func TestAsOfFutureNeverWrites(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, "-o", "json")
	before := storeState(t, w)

	r := w.scan(0, "-o", "json", "--as-of", "2027-03-01")
	if !strings.Contains(r.stderr, "--as-of 2027-03-01 is in the future (now 2026-11-25T12:00:00Z): findings shown, issue store unchanged") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if !strings.Contains(r.stdout, `"user":"grace"`) { // grace's key is 50 days unused now, 146 by March
		t.Errorf("future findings not shown:\n%s", r.stdout)
	}
	if after := storeState(t, w); after != before {
		t.Errorf("store changed by a future scan:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// The future scan recorded nothing: now is still not "before" anything.
	r = w.scan(0, "-o", "json")
	if strings.Contains(r.stderr, "unchanged") || !strings.Contains(r.stderr, "issues: 0 new, 0 updated, 0 resolved") {
		t.Errorf("scan as of now after a future scan:\n%s", r.stderr)
	}
}

// TestRemediateAsOf: remediate --as-of is a dry run's only (the plan as of
// that date: a warning then past its deadline is due); acting with it is
// refused with exit 2 and nothing is done.
func TestRemediateAsOf(t *testing.T) {
	w := newWorld(t, remediationConfig)
	w.srv.AddAccount(seedAlpha())
	w.scan(0, "-o", "json")
	w.srv.ResetCalls()

	r := w.run("remediate", "--yes", "--as-of", "2026-12-15")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--as-of 2026-12-15 needs --dry-run") {
		t.Errorf("remediate --yes --as-of: exit %d\n%s", r.code, r.stderr)
	}
	if n := len(w.srv.Calls()); n != 0 {
		t.Errorf("refused remediate made %d AWS calls", n)
	}
	if j := w.run("journal", "-o", "json"); strings.TrimSpace(j.stdout) != "" {
		t.Errorf("journal after a refused remediate:\n%s", j.stdout)
	}

	// Today carol's password (85 days unused, limit 90) is a warning, not
	// due; by 15 December it is past its deadline and due.
	today := strings.Join(outcomes(t, w.remediate(0, "--dry-run").stdout), "\n")
	if !strings.Contains(today, "skipped not_violation carol") {
		t.Errorf("plan as of now:\n%s", today)
	}
	later := strings.Join(outcomes(t, w.remediate(0, "--dry-run", "--as-of", "2026-12-15").stdout), "\n")
	for _, want := range []string{"would remediate <nil> carol", "would remediate <nil> alice AKIAALICE0000000OLD1", "would remediate <nil> dave"} {
		if !strings.Contains(later, want) {
			t.Errorf("plan as of 2026-12-15 lacks %q:\n%s", want, later)
		}
	}
	if n := len(w.srv.Calls()); n != 0 {
		t.Errorf("dry runs made %d AWS calls", n)
	}
	wantMutations(t, w.srv)
}

// TestLambdaTracksAsOfEventTime: the Lambda runs as of the event's time and
// tracks; a retried old event (before the last tracked scan) evaluates
// without touching the issues, and the invocation still succeeds.
func TestLambdaTracksAsOfEventTime(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	db := filepath.Join(tmp, "keywarden.db")
	var stderr strings.Builder
	env := Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr,
		Getenv: func(k string) string { return map[string]string{LambdaConfigDirEnv: w.dir}[k] },
		Now:    func() time.Time { return asOf.Add(time.Hour) }, AWSHTTPClient: w.srv.HTTPClient()}
	h := lambda.NewHandler(LambdaHandler(env))
	invoke := func(at time.Time) RunSummary {
		t.Helper()
		ev := strings.Replace(scheduledEvent, `"time": "2026-11-25T12:00:00Z"`, `"time": "`+at.Format(time.RFC3339)+`"`, 1)
		out, err := h.Invoke(context.Background(), []byte(ev))
		if err != nil {
			t.Fatalf("invoke as of %s: %v", at, err)
		}
		var sum RunSummary
		if err := json.Unmarshal(out, &sum); err != nil {
			t.Fatal(err)
		}
		if sum.Result != "ok" || !sum.AsOf.Equal(at) {
			t.Errorf("as of %s: %+v", at, sum)
		}
		return sum
	}
	state := func() string {
		t.Helper()
		r := w.run("issues", "list", "--status", "all", "-o", "json", "--db", db)
		if r.code != 0 {
			t.Fatalf("issues list: %d %s", r.code, r.stderr)
		}
		return r.stdout
	}

	if sum := invoke(asOf); sum.Issues.New != 6 {
		t.Errorf("first scheduled run: %+v issues, want 6 new", sum.Issues)
	}
	tracked := state()
	old := invoke(asOf.Add(-48 * time.Hour)) // a retried event from two days ago
	if old.Issues.New+old.Issues.Updated+old.Issues.Resolved != 0 {
		t.Errorf("old event changed issues: %+v", old.Issues)
	}
	if got := state(); got != tracked {
		t.Errorf("old event changed the store:\nbefore:\n%s\nafter:\n%s", tracked, got)
	}
	if !strings.Contains(stderr.String(), "is before the last tracked scan of 111111111111 (2026-11-25T12:00:00Z): findings shown, issue store unchanged") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	// The next scheduled event tracks again.
	if sum := invoke(asOf.Add(30 * time.Minute)); sum.Issues.New != 0 || strings.Contains(stderr.String(), "(2026-11-25T12:30:00Z)") {
		t.Errorf("next event: %+v", sum.Issues)
	}
}

// TestLambdaEventAheadOfClock: an event stamped a little after the Lambda's
// clock (clocks differ) runs as of the Lambda's now and is tracked.
func TestLambdaEventAheadOfClock(t *testing.T) {
	w := newWorld(t, baseConfig)
	w.srv.AddAccount(seedAlpha())
	t.Setenv("TMPDIR", t.TempDir())
	env := Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard,
		Getenv: func(k string) string { return map[string]string{LambdaConfigDirEnv: w.dir}[k] },
		Now:    func() time.Time { return asOf.Add(-2 * time.Second) }, AWSHTTPClient: w.srv.HTTPClient()}
	out, err := lambda.NewHandler(LambdaHandler(env)).Invoke(context.Background(), []byte(scheduledEvent))
	if err != nil {
		t.Fatal(err)
	}
	var sum RunSummary
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatal(err)
	}
	if !sum.AsOf.Equal(asOf.Add(-2*time.Second)) || sum.Issues.New != 6 {
		t.Errorf("event 2s ahead of the clock: as of %s, issues %+v; want as of now, 6 new", sum.AsOf, sum.Issues)
	}
}
