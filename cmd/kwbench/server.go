package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keywarden/keywarden/internal/awstest"
)

// The loopback AWS server runs in a child process (kwbench -serve), so that
// the memory measured in the parent is the scanning side's only.

// serve seeds the server and answers commands on stdin, one a line:
// "calls" (JSON {action: count}), "check" (the fast path's per-account
// budget), "max" (most accounts in flight at once), "reset", "nextday"
// (the server's clock moves 5 hours on: AWS generates a new credential
// report on the next request, as on a daily scan).
func serve(accounts, users int, latency time.Duration, healthy bool, cpuProfile string) error {
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	// The server holds every seeded user (and every call, for the budget
	// check): hundreds of MiB of live heap that each GC cycle would mark.
	// It runs on the same cores as the scanner, so let its heap grow 4x
	// between collections (its memory is not the one measured) rather
	// than burn CPU the scanner would otherwise get.
	debug.SetGCPercent(400)
	srv := awstest.New()
	defer srv.Close()
	var shift atomic.Int64
	srv.SetClock(func() time.Time { return asOf.Add(time.Duration(shift.Load())) })
	org := make([]awstest.OrgAccount, 0, accounts)
	stats := make([]seedStats, accounts)
	for i := range accounts {
		a, st := seedAccount(i, users, healthy)
		srv.AddAccount(a)
		stats[i] = st
		org = append(org, awstest.OrgAccount{ID: a.ID, Name: fmt.Sprintf("bench-%04d", i)})
	}
	srv.SetOrganization(accountID(0), org)
	srv.AddCaller(mainAKID, mainSecret, accountID(0), "keywarden")
	srv.SetLatency(latency)
	fmt.Printf("URL %s\n", srv.URL)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch strings.TrimSpace(in.Text()) {
		case "calls":
			by := map[string]int{}
			for _, c := range srv.Calls() {
				by[c.Action]++
			}
			b, _ := json.Marshal(by)
			fmt.Printf("%s\n", b)
		case "check":
			// IAM calls per account against 3 + ceil(users/1000) +
			// users-with-findings + credentials-with-findings.
			per := map[string]int{}
			for _, c := range srv.Calls() {
				if c.Service == "iam" {
					per[c.Account]++
				}
			}
			over, worst, worstBudget := 0, 0, 0
			for i, st := range stats {
				budget := 3 + (st.users+999)/1000 + st.usersWithFindings + st.credsBad
				n := per[accountID(i)]
				if n > budget {
					over++
				}
				if n > worst {
					worst, worstBudget = n, budget
				}
			}
			fmt.Printf("%d %d %d\n", over, worst, worstBudget)
		case "max":
			fmt.Printf("%d\n", srv.MaxConcurrentAccounts())
		case "reset":
			srv.ResetCalls()
			fmt.Printf("ok\n")
		case "nextday":
			shift.Add(int64(5 * time.Hour))
			fmt.Printf("ok\n")
		}
	}
	return in.Err()
}

// child is the parent's handle on the server process.
type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
	URL string
}

func startServer(accounts, users int, latency time.Duration, healthy bool) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-serve", "-accounts", fmt.Sprint(accounts), "-users", fmt.Sprint(users), "-latency", latency.String(),
		fmt.Sprintf("-healthy=%t", healthy), "-server-cpuprofile", profiles.server)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, in: in, out: bufio.NewReaderSize(outp, 1<<20)}
	line, err := c.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "URL ") {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("server did not start: %q %v", line, err)
	}
	c.URL = strings.TrimSpace(strings.TrimPrefix(line, "URL "))
	return c, nil
}

func (c *child) ask(cmd string) string {
	fmt.Fprintln(c.in, cmd)
	line, err := c.out.ReadString('\n')
	if err != nil {
		fmt.Fprintln(os.Stderr, "kwbench: server:", err)
		os.Exit(1)
	}
	return strings.TrimSpace(line)
}

func (c *child) calls() (total int, by map[string]int) {
	_ = json.Unmarshal([]byte(c.ask("calls")), &by)
	for _, n := range by {
		total += n
	}
	return total, by
}

func (c *child) stop() {
	_ = c.in.Close()
	_ = c.cmd.Wait()
}
