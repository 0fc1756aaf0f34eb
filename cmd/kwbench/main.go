// Command kwbench measures keywarden's AWS fast path at organization scale,
// on a loopback AWS server (run in a child process) with a per-call
// latency, against the floor and the seeds' per-key polling:
//
//	go run ./cmd/kwbench -accounts 1000 -users 1000 -latency 40ms
//
// On each estate (-estates: stale, one user in ten with stale credentials;
// healthy, none) it measures `keywarden scan --org` (cli.Run, the same
// code as the command), tracked: the first scan (an empty store) and the
// second (the next day: AWS generates new reports, the store knows the
// keys); a report-only scan (GenerateCredentialReport until COMPLETE and
// GetCredentialReport per account, what Prowler or Cloud Custodian read:
// the floor); and the per-key strategy (ListUsers → ListAccessKeys →
// GetAccessKeyLastUsed per key → GetLoginProfile per user, sequential per
// account, the same account concurrency), measured on a sample of accounts
// (-baseline-accounts, default one wave of -concurrency accounts) and
// extrapolated: its calls per account are fixed by the seeds and its
// accounts run in waves of -concurrency. It prints a table of IAM calls,
// all calls, wall time and findings.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keywarden/keywarden/internal/accounts"
	"github.com/keywarden/keywarden/internal/awsguard"
	"github.com/keywarden/keywarden/internal/cli"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
)

func main() {
	var (
		serveMode    = flag.Bool("serve", false, "internal: run the AWS server (the child process)")
		healthy      = flag.Bool("healthy", false, "internal: the server seeds a healthy estate")
		nAccounts    = flag.Int("accounts", 100, "accounts in the organization")
		nUsers       = flag.Int("users", 1000, "IAM users per account")
		latency      = flag.Duration("latency", 50*time.Millisecond, "added to every AWS call")
		concurrency  = flag.Int("concurrency", 16, "accounts scanned at once, by every strategy")
		poll         = flag.Duration("report-poll", inventory.DefaultPollInterval, "first wait between GenerateCredentialReport calls, keywarden's and the report-only scan's (the server completes a report on the second call)")
		estates      = flag.String("estates", "stale,healthy", "estates to measure: stale (one user in ten with stale credentials), healthy (none)")
		baselineN    = flag.Int("baseline-accounts", 0, "accounts the per-key strategy really scans (0: one wave, -concurrency accounts; -1: all)")
		skipBaseline = flag.Bool("skip-baseline", false, "skip the per-key strategy")
		cpuProfile   = flag.String("cpuprofile", "", "write a CPU profile of keywarden's first scan (first estate) to this file")
		srvProfile   = flag.String("server-cpuprofile", "", "write a CPU profile of the AWS server process (the whole run) to this file")
		memProfile   = flag.String("memprofile", "", "write a heap profile of keywarden's first scan (first estate) to this file")
	)
	flag.Parse()
	if *serveMode {
		if err := serve(*nAccounts, *nUsers, *latency, *healthy, *srvProfile); err != nil {
			fmt.Fprintln(os.Stderr, "kwbench -serve:", err)
			os.Exit(1)
		}
		return
	}
	profiles.cpu, profiles.mem, profiles.server = *cpuProfile, *memProfile, *srvProfile
	fmt.Printf("kwbench: %d accounts x %d users, %s per AWS call, concurrency %d\n", *nAccounts, *nUsers, *latency, *concurrency)
	var rows []row
	for i, estate := range strings.Split(*estates, ",") {
		estate = strings.TrimSpace(estate)
		if estate != "stale" && estate != "healthy" {
			fmt.Fprintf(os.Stderr, "kwbench: -estates: %q: use stale or healthy\n", estate)
			os.Exit(2)
		}
		r, err := runEstate(estate, i == 0, *nAccounts, *nUsers, *latency, *concurrency, *poll, *baselineN, *skipBaseline)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kwbench:", err)
			os.Exit(1)
		}
		rows = append(rows, r...)
	}
	table(*nAccounts, rows)
}

type measure struct {
	calls          int
	wall           time.Duration
	heap, rss      uint64
	findings       int
	extrapolatedBy float64 // 0: measured on every account
	gc             gcStats
}

// row is one line of the table: one strategy on one estate.
type row struct {
	estate, strategy string
	// iam counts IAM calls only; total adds STS (AssumeRole,
	// GetCallerIdentity) and Organizations (ListAccounts).
	iam, total   int
	wall         time.Duration
	findings     int
	extrapolated bool
}

func rowOf(estate, strategy string, m measure, by map[string]int) row {
	iam := m.calls
	for _, a := range []string{"AssumeRole", "GetCallerIdentity", "ListAccounts"} {
		iam -= int(float64(by[a]) * max(m.extrapolatedBy, 1))
	}
	return row{estate: estate, strategy: strategy, iam: iam, total: m.calls, wall: m.wall, findings: m.findings, extrapolated: m.extrapolatedBy > 0}
}

// runEstate measures, on one estate: keywarden's first tracked scan (an
// empty store), its second (the next day: new reports, the store knows the
// keys), a report-only scan (the floor: GenerateCredentialReport until
// COMPLETE, GetCredentialReport, per account) and the per-key strategy.
func runEstate(estate string, first bool, nAccounts, nUsers int, latency time.Duration, concurrency int, poll time.Duration, baselineN int, skipBaseline bool) ([]row, error) {
	fmt.Printf("\n== %s estate ==\n", estate)
	t0 := time.Now()
	srv, err := startServer(nAccounts, nUsers, latency, estate == "healthy")
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	fmt.Printf("seeded the loopback AWS server (child process) in %s\n", time.Since(t0).Round(time.Millisecond))

	dir, err := os.MkdirTemp("", "kwbench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(benchConfig), 0o600); err != nil {
		return nil, err
	}
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": srv.URL, "AWS_ACCESS_KEY_ID": mainAKID, "AWS_SECRET_ACCESS_KEY": mainSecret,
		"AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONFIG_FILE": filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
	} {
		os.Setenv(k, v)
	}
	for _, k := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CA_BUNDLE", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"} {
		os.Unsetenv(k)
	}
	httpc := newHTTPClient()
	var rows []row

	// keywarden scan --org, tracked, as the command runs it: the first
	// scan, then the next day's.
	for scan := 1; scan <= 2; scan++ {
		if scan == 2 {
			srv.ask("nextday")
			srv.ask("reset")
		}
		var stdout countingWriter
		var stderr bytes.Buffer
		env := cli.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: os.Getenv,
			Now: func() time.Time { return asOf }, AWSHTTPClient: httpc}
		args := []string{"--config-dir", dir, "--db", filepath.Join(dir, "keywarden.db"), "--log-level", "error", "scan", "--org", "-o", "json",
			"--as-of", asOf.Format(time.RFC3339), "--concurrency", fmt.Sprint(concurrency),
			"--report-poll-interval", poll.String()}
		profile := first && scan == 1
		stopProfile := func() error { return nil }
		if profile {
			if stopProfile, err = profiles.start(); err != nil {
				return nil, err
			}
		}
		mw := startMem()
		start := time.Now()
		code := cli.Run(context.Background(), env, args)
		a := measure{wall: time.Since(start), findings: stdout.lines}
		a.heap, a.rss = mw.done()
		a.gc = mw.gc
		if err := stopProfile(); err != nil {
			return nil, err
		}
		var by map[string]int
		a.calls, by = srv.calls()
		name := map[int]string{1: "keywarden, first scan", 2: "keywarden, second scan"}[scan]
		fmt.Printf("%s (exit %d):\n    %s", name, code, indent(stderr.String()))
		if scan == 1 {
			over, worst, worstBudget := 0, 0, 0
			fmt.Sscan(srv.ask("check"), &over, &worst, &worstBudget)
			fmt.Printf("    call budget 3 + ceil(users/1000) + users-with-findings + credentials-with-findings: %d account(s) over; busiest account %d IAM calls (its budget %d)\n",
				over, worst, worstBudget)
			fmt.Printf("    at most %s accounts in flight at once (server's view); peak RSS %.0f MiB, heap %.0f MiB; %s\n",
				srv.ask("max"), float64(a.rss)/(1<<20), float64(a.heap)/(1<<20), a.gc)
		}
		if code != 0 {
			return nil, fmt.Errorf("keywarden scan exited %d", code)
		}
		rows = append(rows, rowOf(estate, name, a, by))
	}

	accts := make([]inventory.Account, nAccounts)
	for i := range accts {
		accts[i] = inventory.Account{ID: accountID(i)}
	}
	ac, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithHTTPClient(httpc))
	if err != nil {
		return nil, err
	}
	awsguard.Install(&ac, awsguard.Options{}) // as the CLI's clients: the same checks cost the same
	sess := &accounts.Sessions{Main: ac}

	// The floor: a report-only scan of every account, the next day.
	srv.ask("nextday")
	srv.ask("reset")
	start := time.Now()
	if err := reportOnly(context.Background(), sess, accts, concurrency, poll); err != nil {
		return nil, err
	}
	r := measure{wall: time.Since(start)}
	var by map[string]int
	r.calls, by = srv.calls()
	rows = append(rows, rowOf(estate, "report-only (floor)", r, by))
	if skipBaseline {
		return rows, nil
	}

	// The seeds' per-key strategy on a sample, extrapolated.
	srv.ask("reset")
	n := baselineN
	switch {
	case n == 0:
		n = min(concurrency, nAccounts)
	case n < 0 || n > nAccounts:
		n = nAccounts
	}
	rules := []policy.Rule{
		{Kind: policy.InactiveKeys, LimitDays: 90, WarningDays: 10},
		{Kind: policy.KeysRotation, LimitDays: 180, WarningDays: 10},
		{Kind: policy.InactivePasswords, LimitDays: 90, WarningDays: 10},
	}
	fmt.Printf("per-key strategy on %d of %d accounts ...\n", n, nAccounts)
	start = time.Now()
	findings, failed, err := perKey(context.Background(), sess, accts[:n], concurrency, rules)
	if err != nil {
		return nil, err
	}
	b := measure{wall: time.Since(start), findings: findings}
	b.calls, by = srv.calls()
	if failed > 0 {
		return nil, fmt.Errorf("per-key strategy: %d accounts failed", failed)
	}
	fmt.Printf("    measured: %d calls, %s, %d findings\n", b.calls, b.wall.Round(time.Millisecond), b.findings)
	if n < nAccounts {
		waves := func(k int) float64 { return float64((k + concurrency - 1) / concurrency) }
		b.extrapolatedBy = float64(nAccounts) / float64(n)
		b.calls = int(float64(b.calls) * b.extrapolatedBy)
		b.findings = int(float64(b.findings) * b.extrapolatedBy)
		b.wall = time.Duration(float64(b.wall) * waves(nAccounts) / waves(n))
	}
	// Stateless: its first and second scans cost the same.
	rows = append(rows, rowOf(estate, "per-key (first = second)", b, by))
	return rows, nil
}

func table(nAccounts int, rows []row) {
	fmt.Printf("\n%-8s %-28s %12s %10s %12s %10s %10s\n", "estate", "strategy", "IAM calls", "per acct", "all calls", "wall", "findings")
	for _, r := range rows {
		wall := r.wall.Round(time.Millisecond).String()
		if r.extrapolated {
			wall += "*"
		}
		fmt.Printf("%-8s %-28s %12d %10.1f %12d %10s %10d\n", r.estate, r.strategy, r.iam, float64(r.iam)/float64(nAccounts), r.total, wall, r.findings)
	}
	fmt.Println("IAM calls: the account's inventory; all calls add STS (AssumeRole, GetCallerIdentity) and Organizations (ListAccounts).")
	fmt.Println("*: extrapolated from a sample (-baseline-accounts). report-only reads no key ID and confirms nothing: the floor, not a peer.")
	for _, estate := range []string{"stale", "healthy"} {
		var floor, second, perKey *row
		for i := range rows {
			r := &rows[i]
			if r.estate != estate {
				continue
			}
			switch {
			case strings.HasPrefix(r.strategy, "report-only"):
				floor = r
			case strings.HasSuffix(r.strategy, "second scan"):
				second = r
			case strings.HasPrefix(r.strategy, "per-key"):
				perKey = r
			}
		}
		if floor != nil && second != nil {
			fmt.Printf("%s: keywarden's second scan costs %.2fx the floor's IAM calls, %.2fx its wall time", estate,
				float64(second.iam)/float64(floor.iam), second.wall.Seconds()/floor.wall.Seconds())
			if perKey != nil {
				fmt.Printf("; per-key costs %.1fx the floor's IAM calls", float64(perKey.iam)/float64(floor.iam))
			}
			fmt.Println()
		}
	}
}

// reportOnly is a report-only tool (Prowler, Cloud Custodian): per account,
// GenerateCredentialReport until COMPLETE (the same polling as keywarden),
// GetCredentialReport, parse. No key IDs, no confirmation.
func reportOnly(ctx context.Context, sess *accounts.Sessions, accts []inventory.Account, concurrency int, poll time.Duration) error {
	sem := make(chan struct{}, concurrency)
	errs := make(chan error, len(accts))
	for _, a := range accts {
		sem <- struct{}{}
		go func(a inventory.Account) {
			defer func() { <-sem }()
			errs <- reportOnlyAccount(ctx, sess, a, poll)
		}(a)
	}
	for range cap(sem) {
		sem <- struct{}{}
	}
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func reportOnlyAccount(ctx context.Context, sess *accounts.Sessions, a inventory.Account, poll time.Duration) error {
	c, err := sess.IAM(ctx, a)
	if err != nil {
		return err
	}
	wait := poll
	for {
		out, err := c.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
		if err != nil {
			return fmt.Errorf("account %s: generate credential report: %w", a.ID, err)
		}
		if out.State == types.ReportStateTypeComplete {
			break
		}
		time.Sleep(wait)
		wait = min(2*wait, inventory.MaxPollInterval)
	}
	out, err := c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if err != nil {
		return fmt.Errorf("account %s: get credential report: %w", a.ID, err)
	}
	_, err = inventory.ParseCredentialReportBytes(out.Content, "credential report of "+a.ID)
	return err
}

func indent(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}

type countingWriter struct{ lines int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.lines += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}

// newHTTPClient keeps enough idle connections for every request in flight
// and buffers request bodies (see awstest.Server.HTTPClient: the SDK's
// default client races against a loopback server answering at once).
func newHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 2048, 2048
	return &http.Client{Transport: bufferingTransport{tr}}
}

type bufferingTransport struct{ rt http.RoundTripper }

func (b bufferingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return b.rt.RoundTrip(req)
	}
	data, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.ContentLength = int64(len(data))
	r.Body = io.NopCloser(bytes.NewReader(data))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	return b.rt.RoundTrip(r)
}
