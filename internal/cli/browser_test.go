package cli

import (
	"bytes"
	"context"
	"flag"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "rewrite docs/report.png from the bundled sample")

// chromiumPath finds Debian's chromium. In CI (KEYWARDEN_CI set) a missing
// browser fails the test: the report must really be checked in a browser.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("KEYWARDEN_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	if os.Getenv("KEYWARDEN_CI") != "" {
		t.Fatal("chromium is not installed: .ci/run installs Debian's chromium package")
	}
	t.Skip("chromium not installed (apt-get install chromium); CI installs it")
	return ""
}

// TestHTMLReportInBrowser renders the bundled sample's HTML report through
// the CLI, opens it in headless Chromium and checks the DOM after scripts
// ran, the chart's rendered size, sorting and filtering, and that the page
// made no request beyond its own file.
func TestHTMLReportInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	out := filepath.Join(t.TempDir(), "report.html")
	r := runIn(t, repoRoot, false, "scan", "--config-dir", "examples", "--credential-report", "examples/credential-report.csv",
		"--as-of", "2026-11-25", "--no-track", "-o", "html", "--output", out)
	if r.code != 0 {
		t.Fatalf("scan -o html: exit %d\n%s", r.code, r.stderr)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 120*time.Second)
	defer cancel()

	var mu sync.Mutex
	var requests []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("chromium: %s: %v", what, err)
		}
	}
	must("open", chromedp.Do(ctx, chromedp.Navigate("file://"+out), chromedp.WaitReady("#findings")))
	text := func(sel string) string {
		v, err := chromedp.Run(ctx, chromedp.Text(sel))
		must(sel, err)
		return strings.TrimSpace(v)
	}
	num := func(js string) float64 {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](js))
		must(js, err)
		return v
	}
	violations, warnings, accounts := text("#total-violations"), text("#total-warnings"), text("#total-accounts")
	accountRows := int(num(`document.querySelectorAll("#accounts tbody tr.account-row").length`))
	chartW := num(`document.querySelector("#chart-user_inactivekeys").getBoundingClientRect().width`)
	chartH := num(`document.querySelector("#chart-user_inactivekeys").getBoundingClientRect().height`)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	must("screenshot", err)
	// Sort the findings by user, descending (two clicks), then filter.
	must("sort", chromedp.Do(ctx,
		chromedp.Click(`#findings thead th:nth-child(2)`),
		chromedp.Click(`#findings thead th:nth-child(2)`)))
	firstUserAfterSort, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#findings tbody tr td:nth-child(2)").textContent`))
	must("first row", err)
	must("filter", chromedp.Do(ctx, chromedp.SendKeys(`input[data-table="findings"]`, "mallory")))
	visibleAfterFilter := int(num(`Array.from(document.querySelectorAll("#findings tbody tr")).filter(r => r.style.display !== "none").length`))
	if violations != "10" || warnings != "3" || accounts != "1" || accountRows != 1 {
		t.Errorf("totals: violations %q warnings %q accounts %q rows %d", violations, warnings, accounts, accountRows)
	}
	if chartW < 100 || chartH < 30 {
		t.Errorf("age chart rendered %vx%v px", chartW, chartH)
	}
	if firstUserAfterSort != "svc-backup" {
		t.Errorf("after sorting by user descending the first row is %q", firstUserAfterSort)
	}
	if visibleAfterFilter != 3 {
		t.Errorf("filter 'mallory' shows %d rows, want 3", visibleAfterFilter)
	}
	mu.Lock()
	for _, u := range requests {
		if !strings.HasPrefix(u, "file://") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the report made a network request: %s", u)
		}
	}
	mu.Unlock()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil || img.Bounds().Dx() < 1000 || img.Bounds().Dy() < 900 {
		t.Fatalf("screenshot: %v %v", err, img)
	}
	if *updateScreenshot {
		if err := os.WriteFile(filepath.Join(repoRoot, "docs", "report.png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
