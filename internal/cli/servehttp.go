package cli

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/output"
)

func (d *daemon) routes(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", d.healthz)
	mux.Handle("GET /metrics", d.m.Handler())
	mux.HandleFunc("GET /{$}", d.index)
	if token == "" {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="keywarden"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

func (d *daemon) healthz(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	var last *RunSummary
	if len(d.history) > 0 {
		last = &d.history[0]
	}
	d.mu.Unlock()
	r, running, stuck := d.inProgress()
	w.Header().Set("Content-Type", "application/json")
	status := "ok"
	if stuck {
		status = "stuck"
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintf(w, `{"status":%q,"running":%v`, status, r != nil)
	if r != nil {
		fmt.Fprintf(w, `,"run":{"id":%d,"started":%q,"running_for":%q}`, r.id, r.started.UTC().Format(time.RFC3339), running.Round(time.Millisecond).String())
	}
	if stuck {
		fmt.Fprintf(w, `,"stuck_since":%q,"error":%q`, r.started.Add(d.stuckAfter).UTC().Format(time.RFC3339),
			fmt.Sprintf("run %d, started %s, has been running for %s: longer than --stuck-after %s",
				r.id, r.started.UTC().Format(time.RFC3339), running.Round(time.Millisecond), d.stuckAfter))
	}
	if last != nil {
		fmt.Fprintf(w, `,"last_run":{"started":%q,"result":%q,"duration":%q}`, last.Started.Format(time.RFC3339), last.Result, last.Duration)
	}
	fmt.Fprintln(w, "}")
}

// index serves the HTML report of the tracked issues, read from the store.
func (d *daemon) index(w http.ResponseWriter, r *http.Request) {
	g := *d.g
	cfg := d.config()
	st, err := openReadingStore(r.Context(), &g, cfg)
	if err != nil {
		http.Error(w, "issue store: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer st.Close()
	// Every issue: the live ones, and the remediated and resolved ones
	// shown as such (never counted as violations).
	list, err := st.List(r.Context(), issues.Filter{})
	if err != nil {
		http.Error(w, "issue store: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	rep := issuesReport(list, cfg, g.env.Now())
	d.mu.Lock()
	for _, h := range d.history {
		rep.Runs = append(rep.Runs, output.ReportRun{Started: h.Started, Duration: h.Duration, Result: h.Result,
			Accounts: h.Accounts, Failures: strings.Join(h.Failures, "; ")})
	}
	d.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:")
	if err := output.RenderHTML(w, rep, output.Options{Format: output.HTML, ShowKeyIDs: g.showKeyIDs}); err != nil {
		d.g.logger().Error("render web view", "err", err)
	}
}
