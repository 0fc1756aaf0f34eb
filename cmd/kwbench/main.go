// Command kwbench measures keywarden's AWS fast path against the seeds'
// per-key polling at organization scale, on a loopback AWS server (run in a
// child process) with a per-call latency:
//
//	go run ./cmd/kwbench -accounts 1000 -users 1000 -latency 50ms
//
// (a) is `keywarden scan --org` itself (cli.Run, the same code as the
// command); (b) is ListUsers → ListAccessKeys → GetAccessKeyLastUsed per key
// → GetLoginProfile per user, sequential per account, with the same account
// concurrency. (b) is measured on a sample of accounts (-baseline-accounts,
// default one wave of -concurrency accounts) and extrapolated to all of
// them: its calls per account are fixed by the seeds and its accounts run
// in waves of -concurrency.
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

	"github.com/keywarden/keywarden/internal/accounts"
	"github.com/keywarden/keywarden/internal/awsguard"
	"github.com/keywarden/keywarden/internal/cli"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
)

func main() {
	var (
		serveMode    = flag.Bool("serve", false, "internal: run the AWS server (the child process)")
		nAccounts    = flag.Int("accounts", 100, "accounts in the organization")
		nUsers       = flag.Int("users", 1000, "IAM users per account")
		latency      = flag.Duration("latency", 50*time.Millisecond, "added to every AWS call")
		concurrency  = flag.Int("concurrency", 16, "accounts scanned at once, by both strategies")
		poll         = flag.Duration("report-poll", time.Second, "keywarden's wait between GenerateCredentialReport calls (the server completes a report on the second call)")
		baselineN    = flag.Int("baseline-accounts", 0, "accounts the per-key strategy really scans (0: one wave, -concurrency accounts; -1: all)")
		skipBaseline = flag.Bool("skip-baseline", false, "measure keywarden only")
		cpuProfile   = flag.String("cpuprofile", "", "write a CPU profile of (a) to this file")
		srvProfile   = flag.String("server-cpuprofile", "", "write a CPU profile of the AWS server process (the whole run) to this file")
		memProfile   = flag.String("memprofile", "", "write a heap profile of (a) to this file")
	)
	flag.Parse()
	if *serveMode {
		if err := serve(*nAccounts, *nUsers, *latency, *srvProfile); err != nil {
			fmt.Fprintln(os.Stderr, "kwbench -serve:", err)
			os.Exit(1)
		}
		return
	}
	profiles.cpu, profiles.mem, profiles.server = *cpuProfile, *memProfile, *srvProfile
	if err := run(*nAccounts, *nUsers, *latency, *concurrency, *poll, *baselineN, *skipBaseline); err != nil {
		fmt.Fprintln(os.Stderr, "kwbench:", err)
		os.Exit(1)
	}
}

type measure struct {
	calls          int
	wall           time.Duration
	heap, rss      uint64
	findings       int
	extrapolatedBy float64 // 0: measured on every account
	gc             gcStats
}

func run(nAccounts, nUsers int, latency time.Duration, concurrency int, poll time.Duration, baselineN int, skipBaseline bool) error {
	fmt.Printf("kwbench: %d accounts x %d users, %s per AWS call, concurrency %d\n", nAccounts, nUsers, latency, concurrency)
	t0 := time.Now()
	srv, err := startServer(nAccounts, nUsers, latency)
	if err != nil {
		return err
	}
	defer srv.stop()
	fmt.Printf("seeded the loopback AWS server (child process) in %s\n\n", time.Since(t0).Round(time.Millisecond))

	dir, err := os.MkdirTemp("", "kwbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(benchConfig), 0o600); err != nil {
		return err
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

	// (a) keywarden scan --org, as the command runs it.
	var stdout countingWriter
	var stderr bytes.Buffer
	env := cli.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: os.Getenv,
		Now: func() time.Time { return asOf }, AWSHTTPClient: httpc}
	args := []string{"--config-dir", dir, "--log-level", "error", "scan", "--org", "--no-track", "-o", "json",
		"--as-of", asOf.Format(time.RFC3339), "--concurrency", fmt.Sprint(concurrency),
		"--report-poll-interval", poll.String()}
	stopProfile, err := profiles.start()
	if err != nil {
		return err
	}
	mw := startMem()
	start := time.Now()
	code := cli.Run(context.Background(), env, args)
	a := measure{wall: time.Since(start), findings: stdout.lines}
	a.heap, a.rss = mw.done()
	a.gc = mw.gc
	if err := stopProfile(); err != nil {
		return err
	}
	a.calls, _ = srv.calls()
	fmt.Printf("(a) keywarden scan --org (exit %d):\n    %s", code, indent(stderr.String()))
	over, worst, worstBudget := 0, 0, 0
	fmt.Sscan(srv.ask("check"), &over, &worst, &worstBudget)
	fmt.Printf("    call budget 3 + ceil(users/1000) + users-with-findings + credentials-with-findings: %d account(s) over; busiest account %d IAM calls (its budget %d)\n",
		over, worst, worstBudget)
	fmt.Printf("    at most %s accounts in flight at once (server's view)\n", srv.ask("max"))
	if code != 0 {
		return fmt.Errorf("keywarden scan exited %d", code)
	}
	if skipBaseline {
		report(nAccounts, nUsers, a, nil)
		return nil
	}

	// (b) the seeds' per-key strategy on a sample, extrapolated.
	srv.ask("reset")
	n := baselineN
	switch {
	case n == 0:
		n = min(concurrency, nAccounts)
	case n < 0 || n > nAccounts:
		n = nAccounts
	}
	accts := make([]inventory.Account, n)
	for i := range accts {
		accts[i] = inventory.Account{ID: accountID(i)}
	}
	ac, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithHTTPClient(httpc))
	if err != nil {
		return err
	}
	awsguard.Install(&ac, awsguard.Options{}) // as the CLI's clients: the same checks cost the same
	sess := &accounts.Sessions{Main: ac}
	rules := []policy.Rule{
		{Kind: policy.InactiveKeys, LimitDays: 90, WarningDays: 10},
		{Kind: policy.KeysRotation, LimitDays: 180, WarningDays: 10},
		{Kind: policy.InactivePasswords, LimitDays: 90, WarningDays: 10},
	}
	fmt.Printf("\n(b) per-key strategy on %d of %d accounts ...\n", n, nAccounts)
	mw = startMem()
	start = time.Now()
	findings, failed, err := perKey(context.Background(), sess, accts, concurrency, rules)
	if err != nil {
		return err
	}
	b := measure{wall: time.Since(start), findings: findings}
	b.heap, b.rss = mw.done()
	b.calls, _ = srv.calls()
	if failed > 0 {
		return fmt.Errorf("per-key strategy: %d accounts failed", failed)
	}
	fmt.Printf("    measured: %d calls, %s, %d findings\n", b.calls, b.wall.Round(time.Millisecond), b.findings)
	if n < nAccounts {
		waves := func(k int) float64 { return float64((k + concurrency - 1) / concurrency) }
		b.extrapolatedBy = float64(nAccounts) / float64(n)
		b.calls = int(float64(b.calls) * b.extrapolatedBy)
		b.findings = int(float64(b.findings) * b.extrapolatedBy)
		b.wall = time.Duration(float64(b.wall) * waves(nAccounts) / waves(n))
	}
	report(nAccounts, nUsers, a, &b)
	return nil
}

func report(nAccounts, nUsers int, a measure, b *measure) {
	mib := func(v uint64) string { return fmt.Sprintf("%.0f MiB", float64(v)/(1<<20)) }
	fmt.Printf("\n%-34s %12s %10s %14s %14s %10s\n", "", "API calls", "wall", "peak RSS", "peak heap", "findings")
	fmt.Printf("%-34s %12d %10s %14s %14s %10d\n", "(a) keywarden fast path", a.calls, a.wall.Round(time.Millisecond), mib(a.rss), mib(a.heap), a.findings)
	fmt.Printf("%-34s %s\n", "    (a) runtime.MemStats", a.gc)
	if b == nil {
		return
	}
	label := "(b) per-key (seeds)"
	if b.extrapolatedBy > 0 {
		label += " extrapolated"
	}
	fmt.Printf("%-34s %12d %10s %14s %14s %10d\n", label, b.calls, b.wall.Round(time.Millisecond), mib(b.rss), mib(b.heap), b.findings)
	fmt.Printf("\nratios (b)/(a): %.1fx API calls, %.1fx wall time; %.0f calls per account for (a), %.0f for (b)\n",
		float64(b.calls)/float64(a.calls), float64(b.wall)/float64(a.wall),
		float64(a.calls)/float64(nAccounts), float64(b.calls)/float64(nAccounts))
	fmt.Println("memory is this process's: the AWS server runs in a child process; (b)'s peaks are of its sample only")
	_ = nUsers
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
