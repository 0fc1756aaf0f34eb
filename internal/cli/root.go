// Package cli is keywarden's command tree (cobra). It is the only place that
// reads flags, the environment and the clock; every command hands the work to
// the internal packages.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/accounts"
	"github.com/keywarden/keywarden/internal/awsguard"
	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/progress"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=...".
var Version = "dev"

// ExitError carries a specific exit code (3: findings matched --fail-on).
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }

// Exit codes.
const (
	ExitOK       = 0
	ExitError1   = 1
	ExitUsage    = 2 // a refused combination of flags (remediate --as-of without --dry-run)
	ExitFindings = 3
)

// Env is what the commands read from the outside world; tests replace it.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Now            func() time.Time
	// StdoutTTY: stdout is a terminal (tables, text logs).
	StdoutTTY bool
	// StdinTTY: stdin is a terminal (remediate and rollback may ask).
	StdinTTY bool
	// AWSHTTPClient, when set, carries every AWS call (tests use the loopback
	// server's client); nil means the SDK's default.
	AWSHTTPClient aws.HTTPClient
	// After waits like time.After (serve's schedule); nil means time.After.
	After func(time.Duration) <-chan time.Time
	// Hangup returns the channel on which SIGHUP arrives, and a stop func
	// (serve reloads its configuration); nil means no reloads.
	Hangup func() (<-chan os.Signal, func())
}

// DefaultEnv is the process environment.
func DefaultEnv() Env {
	return Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Getenv: os.Getenv, Now: time.Now,
		StdoutTTY: isatty.IsTerminal(os.Stdout.Fd()) || isatty.IsCygwinTerminal(os.Stdout.Fd()),
		StdinTTY:  isatty.IsTerminal(os.Stdin.Fd()) || isatty.IsCygwinTerminal(os.Stdin.Fd()),
		After:     time.After,
		Hangup: func() (<-chan os.Signal, func()) {
			ch := make(chan os.Signal, 1)
			signal.Notify(ch, syscall.SIGHUP)
			return ch, func() { signal.Stop(ch) }
		},
	}
}

// globals are the persistent flags.
type globals struct {
	env        Env
	configDir  string
	db         string
	format     string
	logLevel   string
	showKeyIDs bool
	// callTimeout bounds each attempt of each AWS call (--call-timeout).
	callTimeout time.Duration
	// maxAttempts and retryMaxBackoff configure the AWS clients' retries
	// (--max-attempts, hidden --retry-max-backoff).
	maxAttempts     int
	retryMaxBackoff time.Duration
	outFile         string
	tmpOut          *os.File
	// cfg, when set (serve), is the configuration every command uses instead
	// of reading --config-dir: the daemon swaps it on SIGHUP only when the
	// new files validate.
	cfg *config.Config

	// logLevelSet: --log-level was given (a terminal otherwise logs
	// warnings only).
	logLevelSet func() bool
}

func (g *globals) logger() *slog.Logger {
	tty := stderrTTY(g.env)
	lvl := slog.LevelInfo
	set := g.logLevelSet == nil || g.logLevelSet()
	if tty && !set {
		// A terminal shows warnings and the summary, not a line per
		// account; --log-level info asks for them.
		lvl = slog.LevelWarn
	}
	if set {
		_ = lvl.UnmarshalText([]byte(g.logLevel)) // a bad value keeps the default
	}
	if tty {
		// Through the Terminal: records go above the progress bar and wait
		// for a prompt's answer.
		return slog.New(slog.NewTextHandler(g.env.Stderr, &slog.HandlerOptions{Level: lvl, ReplaceAttr: textDurations}))
	}
	return slog.New(slog.NewJSONHandler(g.env.Stderr, &slog.HandlerOptions{Level: lvl, ReplaceAttr: jsonDurations}))
}

// textDurations shows a duration as people read it: 1.2s, 350ms, 2m3s.
func textDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(roundDuration(a.Value.Duration()).String())
	}
	return a
}

// jsonDurations writes a duration as a number of seconds (to the
// millisecond), not slog's nanoseconds.
func jsonDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.Float64Value(math.Round(a.Value.Duration().Seconds()*1000) / 1000)
	}
	return a
}

// roundDuration keeps two or three significant figures: 1.2s, 12.3s, 350ms,
// 2m3s.
func roundDuration(d time.Duration) time.Duration {
	abs := d.Abs()
	switch {
	case abs >= time.Minute:
		return d.Round(time.Second)
	case abs >= time.Second:
		return d.Round(100 * time.Millisecond)
	case abs >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

func (g *globals) outputOptions(asOf time.Time) (output.Options, error) {
	f := g.format
	if f == "" {
		f = "json"
		if g.env.StdoutTTY {
			f = "table"
		}
	}
	format, err := output.ParseFormat(f)
	if err != nil {
		return output.Options{}, usageError("-o: " + err.Error())
	}
	return output.Options{Format: format, ShowKeyIDs: g.showKeyIDs, AsOf: asOf}, nil
}

// formatsAnnotation is where a command declares the output formats it
// writes (withFormats); resolveFormat enforces them for every command.
const formatsAnnotation = "keywarden/formats"

// withFormats declares the -o formats cmd supports, its default first
// (used when the terminal default, table or json, is not among them).
func withFormats(cmd *cobra.Command, fs ...output.Format) *cobra.Command {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = string(f)
	}
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[formatsAnnotation] = strings.Join(names, ",")
	long := cmd.Long
	if long == "" {
		long = cmd.Short
	}
	cmd.Long = strings.TrimRight(long, "\n") + "\n\nOutput formats (-o): " + strings.Join(names, ", ")
	return cmd
}

// declaredFormats is what cmd declared with withFormats (nil: no formatted
// output, so -o is refused).
func declaredFormats(cmd *cobra.Command) []output.Format {
	var fs []output.Format
	for _, n := range strings.Split(cmd.Annotations[formatsAnnotation], ",") {
		if n != "" {
			fs = append(fs, output.Format(n))
		}
	}
	return fs
}

// formatByExt is the format --output's file extension names.
var formatByExt = map[string]output.Format{
	".html": output.HTML, ".htm": output.HTML, ".json": output.JSON, ".jsonl": output.JSON, ".ndjson": output.JSON,
	".csv": output.CSV, ".txt": output.Table, ".asff": output.ASFF,
}

// resolveFormat settles the output format of cmd once, before it runs: -o
// must be one cmd declares; without -o, --output's extension names it (or
// the command refuses); else table on a terminal, json otherwise, or the
// command's own default. Every refusal is a usage error listing what cmd
// supports.
func (g *globals) resolveFormat(cmd *cobra.Command) error {
	supported := declaredFormats(cmd)
	list := func() string {
		names := make([]string, len(supported))
		for i, f := range supported {
			names[i] = string(f)
		}
		return strings.Join(names, ", ")
	}
	name := cmd.CommandPath()
	if g.format != "" {
		f, err := output.ParseFormat(g.format)
		switch {
		case len(supported) == 0:
			return usageError(fmt.Sprintf("-o %s: %s writes no formatted output", g.format, name))
		case err != nil || !slices.Contains(supported, f):
			return usageError(fmt.Sprintf("-o %s: %s supports %s", g.format, name, list()))
		}
		g.format = string(f)
		return nil
	}
	if len(supported) == 0 {
		return nil
	}
	if g.outFile != "" {
		ext := strings.ToLower(filepath.Ext(g.outFile))
		f, ok := formatByExt[ext]
		if !ok {
			return usageError(fmt.Sprintf("--output %s: cannot tell the format from %q; add -o (%s supports %s)", g.outFile, ext, name, list()))
		}
		if !slices.Contains(supported, f) {
			return usageError(fmt.Sprintf("--output %s: %s does not write %s; it supports %s", g.outFile, name, f, list()))
		}
		g.format = string(f)
		return nil
	}
	f := output.JSON
	if g.env.StdoutTTY {
		f = output.Table
	}
	if !slices.Contains(supported, f) {
		f = supported[0]
	}
	g.format = string(f)
	return nil
}

// NewRoot builds the command tree.
func NewRoot(env Env) *cobra.Command {
	root, _ := newRoot(env)
	return root
}

// openOutput points the commands' stdout at a temporary file beside
// --output; finishOutput renames it into place when the command succeeded,
// so a failed run never leaves a half-written report (output.CreateFile: only
// regular files are replaced, and they keep their mode).
func (g *globals) openOutput() error {
	if g.outFile == "" {
		return nil
	}
	f, err := output.CreateFile(g.outFile)
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	g.tmpOut = f
	g.env.Stdout = f
	return nil
}

func (g *globals) finishOutput(ok bool) error {
	f := g.tmpOut
	if f == nil {
		return nil
	}
	g.tmpOut = nil
	if !ok {
		output.AbortFile(f)
		return nil
	}
	if err := output.CommitFile(f, g.outFile); err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	return nil
}

// newGlobals are the persistent flags' defaults, for the command line and
// for callers of the application layer without one (the Lambda).
func newGlobals(env Env) *globals {
	dir := env.Getenv("KEYWARDEN_CONFIG_DIR")
	if dir == "" {
		dir = "."
	}
	return &globals{env: env, configDir: dir, logLevel: "info", maxAttempts: accounts.DefaultMaxAttempts,
		retryMaxBackoff: accounts.DefaultMaxBackoff, callTimeout: awsguard.DefaultAttemptTimeout}
}

func newRoot(env Env) (*cobra.Command, *globals) {
	if _, shared := env.Stderr.(*progress.Terminal); !shared && stderrTTY(env) {
		// One writer owns the terminal's stderr: the progress bar, the
		// log records, the messages and the prompts.
		env.Stderr = progress.NewTerminal(env.Stderr)
	}
	g := newGlobals(env)
	root := &cobra.Command{
		Use:   "keywarden",
		Short: "Keep AWS IAM user credentials healthy: find, track, report and remediate stale keys and passwords",
		Long: `keywarden finds IAM access keys unused or unrotated for too long and console
passwords unused for too long, across one account or an AWS Organization,
and tracks each finding as an issue (Dow Jones Hammer compatible config).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.checkInput(cmd); err != nil {
				return err
			}
			if err := g.resolveFormat(cmd); err != nil {
				return err
			}
			return g.openOutput()
		},
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.configDir, "config-dir", g.configDir, "folder holding config.json, whitelist.json, ticket_owners.json (env KEYWARDEN_CONFIG_DIR)")
	pf.StringVar(&g.db, "db", "", "SQLite issue store file (default: store.path of config.json, else keywarden.db)")
	pf.StringVarP(&g.format, "format", "o", "", "output format: table, json (JSON lines), csv, html or asff, as the command supports (see its help) (default: table on a terminal, json otherwise, or from --output's extension)")
	pf.StringVar(&g.outFile, "output", "", "write the output to this file instead of stdout")
	pf.StringVar(&g.logLevel, "log-level", g.logLevel, "log level: debug, info, warn, error (on a terminal: warn unless given)")
	g.logLevelSet = func() bool { return pf.Changed("log-level") }
	pf.BoolVar(&g.showKeyIDs, "show-key-ids", false, "print access key IDs in full instead of masked (AKIA…WXYZ)")
	pf.IntVar(&g.maxAttempts, "max-attempts", g.maxAttempts, "attempts per AWS call when throttled or failing transiently (standard retry with jittered exponential backoff)")
	pf.DurationVar(&g.retryMaxBackoff, "retry-max-backoff", g.retryMaxBackoff, "longest wait between attempts of an AWS call")
	_ = pf.MarkHidden("retry-max-backoff")
	pf.DurationVar(&g.callTimeout, "call-timeout", g.callTimeout, "the longest keywarden waits for an AWS answer: an attempt with no complete answer by then is retried, and fails once the attempts are spent; remediation then reads the live state to learn whether an unanswered write took effect")

	root.AddCommand(newScanCmd(g), newIssuesCmd(g), newConfigCmd(g), newVersionCmd(g),
		newRemediateCmd(g), newJournalCmd(g), newRollbackCmd(g), newPolicyCmd(g), newRunCmd(g), newServeCmd(g),
		newReportCmd(g), newExemptCmd(g))
	root.Version = Version
	root.SetVersionTemplate("keywarden {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err.Error()) })
	checkSubcommands(root)
	return root, g
}

// checkSubcommands makes every command that groups others (keywarden,
// keywarden config, keywarden issues) refuse an unknown subcommand with a
// suggestion and exit code 2, instead of printing its help and exiting 0.
func checkSubcommands(cmd *cobra.Command) {
	if !cmd.HasSubCommands() {
		return
	}
	cmd.SuggestionsMinimumDistance = 2
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if sug := c.SuggestionsFor(args[0]); len(sug) > 0 {
			msg += fmt.Sprintf("; did you mean %q?", strings.Join(sug, `" or "`))
		} else {
			msg += fmt.Sprintf("; run '%s --help' for its commands", c.CommandPath())
		}
		return usageError(msg)
	}
	if !cmd.Runnable() {
		cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	}
	for _, sub := range cmd.Commands() {
		checkSubcommands(sub)
	}
}

// logLevels are the values of --log-level.
var logLevels = []string{"debug", "info", "warn", "error"}

// logLevelFor is the level a common other name means (verbose: debug).
func logLevelFor(s string) string {
	switch s = strings.ToLower(s); s {
	case "verbose", "trace", "all":
		return "debug"
	case "warning":
		return "warn"
	case "err", "fatal", "quiet":
		return "error"
	case "information", "notice":
		return "info"
	}
	for _, l := range logLevels {
		if s != "" && strings.HasPrefix(l, s) {
			return l
		}
	}
	return ""
}

// checkInput refuses, before any command runs, a global flag value or a
// common flag value (--account, --region) that cannot be right: a usage
// error (exit code 2) saying what would be.
func (g *globals) checkInput(cmd *cobra.Command) error {
	if !slices.Contains(logLevels, strings.ToLower(g.logLevel)) {
		msg := fmt.Sprintf("--log-level %q: use %s", g.logLevel, strings.Join(logLevels, ", "))
		if s := logLevelFor(g.logLevel); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return usageError(msg)
	}
	if _, err := g.retry(); err != nil {
		return err
	}
	if fl := cmd.Flags().Lookup("account"); fl != nil && fl.Changed {
		vals := []string{fl.Value.String()}
		if sv, ok := fl.Value.(interface{ GetSlice() []string }); ok {
			vals = sv.GetSlice()
		}
		for _, id := range vals {
			if !config.IsAccountID(id) {
				msg := fmt.Sprintf("--account %q: an AWS account ID is 12 digits, such as 123456789012", id)
				if cfg, err := config.Load(g.configDir); err == nil {
					for _, a := range cfg.AWS.Accounts {
						if strings.EqualFold(a.Name, id) {
							msg += fmt.Sprintf("; did you mean %s (%s in aws.accounts)?", a.ID, a.Name)
						}
					}
				}
				return usageError(msg)
			}
		}
	}
	if fl := cmd.Flags().Lookup("region"); fl != nil && fl.Changed {
		if r := fl.Value.String(); !config.ValidRegion(r) {
			return usageError(fmt.Sprintf("--region %q is not an AWS region; %s", r, config.RegionFix(r)))
		}
	}
	return nil
}

// Run executes the command line and returns the process exit code. Errors
// are printed to stderr.
func Run(ctx context.Context, env Env, args []string) int {
	root, g := newRoot(env)
	root.SetArgs(args)
	defer noticeInterrupt(ctx, g.env.Stderr)()
	err := root.ExecuteContext(ctx)
	var ee0 *ExitError
	if ferr := g.finishOutput(err == nil || (errors.As(err, &ee0) && ee0.Code == ExitFindings)); ferr != nil && err == nil {
		err = ferr
	}
	if err == nil {
		return ExitOK
	}
	// Errors are output too: key IDs in them are masked unless --show-key-ids.
	text := output.Options{ShowKeyIDs: g.showKeyIDs}.Text
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Msg != "" {
			fmt.Fprintln(g.env.Stderr, text(ee.Msg))
		}
		return ee.Code
	}
	fmt.Fprintln(g.env.Stderr, text("keywarden: "+strings.TrimSpace(err.Error())))
	return ExitError1
}

// parseAsOf reads --as-of: a date (YYYY-MM-DD, midnight UTC) or an RFC 3339
// time; empty means now.
func parseAsOf(s string, now func() time.Time) (time.Time, error) {
	if s == "" {
		return now().UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, usageError(fmt.Sprintf("--as-of %q: want a date like 2026-03-01 or a time like 2026-03-01T09:00:00Z", s))
}

func newVersionCmd(g *globals) *cobra.Command {
	return withFormats(&cobra.Command{
		Use:   "version",
		Short: "Print keywarden's version (also keywarden --version)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Text unless -o json is asked for (or --output v.json).
			if g.format == string(output.JSON) && (cmd.Flags().Changed("format") || g.outFile != "") {
				return json.NewEncoder(g.env.Stdout).Encode(struct {
					Version string `json:"version"`
				}{Version})
			}
			_, err := fmt.Fprintln(g.env.Stdout, "keywarden", Version)
			return err
		},
	}, output.Table, output.JSON)
}

// usageError is a refused flag value: exit code 2.
func usageError(msg string) error {
	return &ExitError{Code: ExitUsage, Msg: "keywarden: " + msg}
}

// retry is the AWS clients' retry configuration, or an error for a value
// that makes no sense.
func (g *globals) retry() (accounts.Retry, error) {
	if g.maxAttempts < 1 {
		return accounts.Retry{}, usageError(fmt.Sprintf("--max-attempts %d: use 1 or more (1 means no retry)", g.maxAttempts))
	}
	if g.retryMaxBackoff <= 0 {
		return accounts.Retry{}, usageError(fmt.Sprintf("--retry-max-backoff %s: use a positive duration", g.retryMaxBackoff))
	}
	if g.callTimeout <= 0 {
		return accounts.Retry{}, usageError(fmt.Sprintf("--call-timeout %s: use a positive duration such as 60s", g.callTimeout))
	}
	return accounts.Retry{MaxAttempts: g.maxAttempts, MaxBackoff: g.retryMaxBackoff}, nil
}
