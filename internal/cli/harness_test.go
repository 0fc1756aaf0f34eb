package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awstest"
)

// asOf is the clock of every end-to-end test: the AWS test server's clock and
// the --as-of of every command.
var asOf = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const (
	acctA    = "111111111111"
	acctB    = "222222222222"
	mainAKID = "AKIAMAINCALLER000001"
)

func daysAgo(d float64) time.Time { return asOf.Add(-time.Duration(d * 24 * float64(time.Hour))) }
func at(t time.Time) *time.Time   { return &t }

// world is one end-to-end setup: a loopback AWS server, a config folder, a
// store file, and the environment the CLI reads.
type world struct {
	t   *testing.T
	srv *awstest.Server
	dir string
	db  string
}

func newWorld(t *testing.T, configJSON string) *world {
	t.Helper()
	srv := awstest.New()
	t.Cleanup(srv.Close)
	registerServer(srv)
	srv.SetClock(func() time.Time { return asOf })
	srv.AddCaller(mainAKID, "main-secret", acctA, "keywarden")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(configJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	// The real credential chain, pointed at the loopback server.
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", mainAKID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "main-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "no-aws-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "no-aws-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CA_BUNDLE", "") // the machine sets one; the loopback server is plain HTTP
	t.Setenv("AWS_MAX_ATTEMPTS", "3")
	t.Setenv("AWS_RETRY_MODE", "standard")
	return &world{t: t, srv: srv, dir: dir, db: filepath.Join(dir, "keywarden.db")}
}

func (w *world) writeFile(name, content string) {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.dir, name), []byte(content), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

type result struct {
	code           int
	stdout, stderr string
}

// run executes keywarden with args (plus --config-dir and --db) as a user
// would, through cobra.
func (w *world) run(args ...string) result {
	w.t.Helper()
	var out, errb bytes.Buffer
	env := Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(string) string { return "" }, Now: func() time.Time { return asOf },
		AWSHTTPClient: w.srv.HTTPClient()}
	full := append([]string{"--config-dir", w.dir, "--db", w.db, "--log-level", "warn"}, args...)
	code := Run(context.Background(), env, full)
	return result{code, out.String(), errb.String()}
}

// scan runs a scan and fails the test unless the exit code is want.
func (w *world) scan(want int, args ...string) result {
	w.t.Helper()
	base := []string{"scan", "--as-of", asOf.Format(time.RFC3339), "--report-poll-interval", "1ms", "--report-timeout", "200ms"}
	r := w.run(append(base, args...)...)
	if r.code != want {
		w.t.Fatalf("scan %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.code, want, r.stdout, r.stderr)
	}
	return r
}

// jsonLines decodes JSON-lines output.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

const baseConfig = `{
  "aws": {"region": "us-east-1", "accounts": {"111111111111": "alpha"}},
  "user_inactivekeys": {"enabled": "true", "inactive_criteria_days": "90", "warning_days": 10},
  "user_keysrotation": {"enabled": true, "rotation_criteria_days": 180, "warning_days": "10"},
  "user_inactivepasswords": {"enabled": "true", "inactive_criteria_days": 90, "warning_days": 10}
}`

// seedAlpha is a mix of every case, in account A.
func seedAlpha() awstest.Account {
	return awstest.Account{ID: acctA, Users: []awstest.User{
		{Name: "alice", Created: daysAgo(800), Keys: []awstest.Key{
			{ID: "AKIAALICE0000000OLD1", Created: daysAgo(400), LastUsed: at(daysAgo(120)), LastUsedService: "s3", LastUsedRegion: "us-east-1"}, // inactive + rotation
			{ID: "AKIAALICE0000000NEW2", Created: daysAgo(10), LastUsed: at(daysAgo(1))},                                                        // healthy
		}},
		{Name: "bob", Created: daysAgo(300), Keys: []awstest.Key{
			{ID: "AKIABOB0000000000001", Created: daysAgo(100)}, // never used: inactive from creation
		}},
		{Name: "carol", Created: daysAgo(500), LoginProfile: &awstest.LoginProfile{Created: daysAgo(500)}, PasswordLastUsed: at(daysAgo(85))}, // password warning
		{Name: "dave", Created: daysAgo(500), LoginProfile: &awstest.LoginProfile{Created: daysAgo(200)}},                                     // password never used
		{Name: "erin", Created: daysAgo(500), Keys: []awstest.Key{
			{ID: "AKIAERIN000000000001", Status: "Inactive", Created: daysAgo(900)}, // inactive: ignored
		}},
		{Name: "frank", Created: daysAgo(500), Tags: map[string]string{"KeyAutoExpire": "FALSE", "Slack": "U123"}, Keys: []awstest.Key{
			{ID: "AKIAFRANK00000000001", Created: daysAgo(200), LastUsed: at(daysAgo(1))}, // rotation, exempt by tag
		}},
		{Name: "grace", Created: daysAgo(50), Keys: []awstest.Key{
			{ID: "AKIAGRACE00000000001", Created: daysAgo(50), LastUsed: at(daysAgo(0.5))}, // healthy
		}},
	}}
}
