package output

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/policy"
)

//go:embed report.html.tmpl
var reportTemplate string

// ReportAccount is one account's line in the HTML report.
type ReportAccount struct {
	ID, Name string
	Users    int
	Err      string
}

// ReportAction is one remediation journal entry shown in the report.
type ReportAction struct {
	Time      time.Time
	AccountID string
	User      string
	KeyID     string
	Kind      policy.Kind
	Action    string
	State     string
}

// ReportRun is one run of the daemon's history.
type ReportRun struct {
	Started  time.Time
	Duration string
	Result   string
	Accounts int
	Failures string
}

// ClosedIssue is a tracked issue keywarden remediated or that resolved
// itself: shown as such, never counted as a violation.
type ClosedIssue struct {
	Finding policy.Finding
	Status  string // remediated or resolved
	Closed  time.Time
	Reason  string
}

// Report is everything the HTML report shows.
type Report struct {
	Title    string
	AsOf     time.Time
	Accounts []ReportAccount
	Findings []policy.Finding
	Rules    []policy.Rule
	Ages     *policy.AgeHistogram
	Actions  []ReportAction
	Runs     []ReportRun
	// Tracked: the report shows the issue store, not a scan: one row per
	// credential (its kinds together), Closed issues in their own section,
	// and the accounts' users are those with tracked issues.
	Tracked bool
	Closed  []ClosedIssue
}

// credRow is one row of the findings table: one credential (tracked view)
// or one finding (scan), with its kinds.
type credRow struct {
	AccountID, UserName, Cred string
	LastUsed                  *time.Time
	Kinds                     []policy.Finding
}

// closedRow is one credential of the closed issues section.
type closedRow struct {
	AccountID, UserName, Cred string
	Kinds                     []ClosedIssue
}

// RenderHTML renders a self-contained HTML report: no external requests (inline
// CSS, JS and SVG; a Content-Security-Policy forbids any other source), so it
// works offline and as an email attachment.
func RenderHTML(w io.Writer, r Report, o Options) error {
	t, err := template.New("report").Funcs(template.FuncMap{
		"day": day, "lastUsed": lastUsed, "daysLeft": DaysLeft, "status": Status,
		"cred":  func(f policy.Finding) string { return o.credential(f.Kind, f.KeyID, f.KeySlot) },
		"count": Count,
		"key":   o.key,
		"text":  o.Text,
		"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	}).Parse(reportTemplate)
	if err != nil {
		return fmt.Errorf("report template: %w", err)
	}
	return t.Execute(w, buildView(r))
}

type kindTotals struct {
	Kind                                   policy.Kind
	Violations, Warnings, Whitelisted, All int
	Remediated, Resolved                   int
}

type accountView struct {
	ReportAccount
	Violations, Warnings, Whitelisted int
}

type weekView struct {
	Week  string // Monday of the week
	Count int
	Users string
}

type chartBar struct {
	X, Y, W, H float64
	Count      int
	From, To   int
	Over       bool // beyond the limit
}

type chartLine struct {
	X     float64
	Label string
	Class string
	Y     float64 // label baseline
}

type chartTick struct {
	X     float64
	Label string
}

type chartView struct {
	Kind   policy.Kind
	Title  string
	Bars   []chartBar
	Lines  []chartLine
	Max    int
	Width  float64
	Height float64
	Total  int
	Bucket int
	Ticks  []chartTick
}

type view struct {
	Report
	Totals     []kindTotals
	Grand      kindTotals
	AccountsV  []accountView
	Oldest     []policy.Finding
	Weeks      []weekView
	Charts     []chartView
	Generated  string
	FailedAccs int
	Rows       []credRow
	ClosedRows []closedRow
}

func buildView(r Report) view {
	v := view{Report: r}
	if v.Title == "" {
		v.Title = "keywarden credential report"
	}
	v.Generated = r.AsOf.UTC().Format("2006-01-02 15:04 MST")
	byKind := map[policy.Kind]*kindTotals{}
	for _, k := range policy.Kinds {
		byKind[k] = &kindTotals{Kind: k}
	}
	byAcct := map[string]*accountView{}
	for _, a := range r.Accounts {
		av := &accountView{ReportAccount: a}
		byAcct[a.ID] = av
		if a.Err != "" {
			v.FailedAccs++
		}
	}
	var viol []policy.Finding
	weeks := map[string]*weekView{}
	weekUsers := map[string]map[string]bool{}
	for _, f := range r.Findings {
		kt := byKind[f.Kind]
		if kt == nil {
			continue
		}
		av := byAcct[f.AccountID]
		if av == nil {
			av = &accountView{ReportAccount: ReportAccount{ID: f.AccountID}}
			byAcct[f.AccountID] = av
			v.Accounts = append(v.Accounts, av.ReportAccount)
		}
		kt.All++
		switch {
		case f.Whitelisted():
			kt.Whitelisted++
			av.Whitelisted++
		case f.Stage == policy.Violation:
			kt.Violations++
			av.Violations++
			viol = append(viol, f)
		default:
			kt.Warnings++
			av.Warnings++
			wk := monday(f.Deadline).Format("2006-01-02")
			if weeks[wk] == nil {
				weeks[wk] = &weekView{Week: wk}
				weekUsers[wk] = map[string]bool{}
			}
			weeks[wk].Count++
			weekUsers[wk][f.UserName] = true
		}
	}
	users := map[string]map[string]bool{} // tracked view: users with issues, by account
	rowOf := map[string]int{}
	for _, f := range r.Findings {
		key := credKey(f)
		if !r.Tracked {
			key += "\x00" + string(f.Kind)
		}
		i, ok := rowOf[key]
		if !ok {
			i = len(v.Rows)
			rowOf[key] = i
			v.Rows = append(v.Rows, credRow{AccountID: f.AccountID, UserName: f.UserName, LastUsed: f.LastUsed})
		}
		v.Rows[i].Kinds = append(v.Rows[i].Kinds, f)
		if users[f.AccountID] == nil {
			users[f.AccountID] = map[string]bool{}
		}
		users[f.AccountID][f.UserName] = true
	}
	closedOf := map[string]int{}
	for _, c := range r.Closed {
		f := c.Finding
		if kt := byKind[f.Kind]; kt != nil {
			if c.Status == "remediated" {
				kt.Remediated++
			} else {
				kt.Resolved++
			}
		}
		if byAcct[f.AccountID] == nil {
			byAcct[f.AccountID] = &accountView{ReportAccount: ReportAccount{ID: f.AccountID}}
			v.Accounts = append(v.Accounts, byAcct[f.AccountID].ReportAccount)
		}
		key := credKey(f) + "\x00" + c.Status
		i, ok := closedOf[key]
		if !ok {
			i = len(v.ClosedRows)
			closedOf[key] = i
			v.ClosedRows = append(v.ClosedRows, closedRow{AccountID: f.AccountID, UserName: f.UserName})
		}
		v.ClosedRows[i].Kinds = append(v.ClosedRows[i].Kinds, c)
		if users[f.AccountID] == nil {
			users[f.AccountID] = map[string]bool{}
		}
		users[f.AccountID][f.UserName] = true
	}
	for _, k := range policy.Kinds {
		t := *byKind[k]
		v.Totals = append(v.Totals, t)
		v.Grand.Violations += t.Violations
		v.Grand.Warnings += t.Warnings
		v.Grand.Whitelisted += t.Whitelisted
		v.Grand.All += t.All
		v.Grand.Remediated += t.Remediated
		v.Grand.Resolved += t.Resolved
	}
	for _, a := range v.Accounts {
		av := *byAcct[a.ID]
		if r.Tracked {
			av.Users = len(users[a.ID])
		}
		v.AccountsV = append(v.AccountsV, av)
	}
	sort.SliceStable(viol, func(i, j int) bool { return viol[i].Deadline.Before(viol[j].Deadline) })
	if r.Tracked { // one row per credential: its oldest violation
		seen := map[string]bool{}
		uniq := viol[:0]
		for _, f := range viol {
			if k := credKey(f); !seen[k] {
				seen[k] = true
				uniq = append(uniq, f)
			}
		}
		viol = uniq
	}
	if len(viol) > 20 {
		viol = viol[:20]
	}
	v.Oldest = viol
	for wk, w := range weeks {
		var us []string
		for u := range weekUsers[wk] {
			us = append(us, u)
		}
		sort.Strings(us)
		w.Users = strings.Join(us, ", ")
		v.Weeks = append(v.Weeks, *w)
	}
	sort.Slice(v.Weeks, func(i, j int) bool { return v.Weeks[i].Week < v.Weeks[j].Week })
	if r.Ages != nil {
		for _, rule := range r.Rules {
			if cs := r.Ages.Counts[rule.Kind]; cs != nil {
				v.Charts = append(v.Charts, chart(rule, r.Ages, cs))
			}
		}
	}
	return v
}

// credKey names the credential of a finding: its account, user and key (or
// password).
func credKey(f policy.Finding) string {
	if f.Kind == policy.InactivePasswords {
		return f.AccountID + "\x00" + f.UserName + "\x00password"
	}
	return f.AccountID + "\x00" + f.UserName + "\x00" + f.Subject()
}

func monday(t time.Time) time.Time {
	t = t.UTC().Truncate(24 * time.Hour)
	wd := (int(t.Weekday()) + 6) % 7
	return t.AddDate(0, 0, -wd)
}

var chartTitles = map[policy.Kind]string{
	policy.InactiveKeys:      "Access keys: days since last use",
	policy.KeysRotation:      "Access keys: days since creation",
	policy.InactivePasswords: "Console passwords: days since last use",
}

// chart lays out an SVG histogram with the rule's warning and limit lines.
func chart(rule policy.Rule, h *policy.AgeHistogram, counts []int) chartView {
	const width, height, left, bottom = 640.0, 200.0, 40.0, 30.0
	c := chartView{Kind: rule.Kind, Title: chartTitles[rule.Kind], Width: width, Height: height, Bucket: h.BucketDays}
	for _, n := range counts {
		if n > c.Max {
			c.Max = n
		}
		c.Total += n
	}
	if c.Max == 0 {
		c.Max = 1
	}
	plotW, plotH := width-left-10, height-bottom-10
	bw := plotW / float64(len(counts))
	for i, n := range counts {
		bh := plotH * float64(n) / float64(c.Max)
		c.Bars = append(c.Bars, chartBar{X: left + float64(i)*bw + 1, Y: 10 + plotH - bh, W: bw - 2, H: bh, Count: n,
			From: i * h.BucketDays, To: (i+1)*h.BucketDays - 1, Over: rule.LimitDays > 0 && i*h.BucketDays >= rule.LimitDays})
	}
	maxDays := float64(len(counts) * h.BucketDays)
	x := func(days int) float64 { return left + plotW*float64(days)/maxDays }
	for _, d := range []int{0, 90, 180, 365, 545} {
		if float64(d) < maxDays {
			c.Ticks = append(c.Ticks, chartTick{X: x(d), Label: fmt.Sprintf("%dd", d)})
		}
	}
	c.Ticks = append(c.Ticks, chartTick{X: x(int(maxDays) - h.BucketDays/2), Label: fmt.Sprintf("%dd+", int(maxDays)-h.BucketDays)})
	if rule.LimitDays > 0 {
		if rule.WarningDays > 0 {
			c.Lines = append(c.Lines, chartLine{X: x(rule.LimitDays - rule.WarningDays), Label: fmt.Sprintf("warn %dd", rule.LimitDays-rule.WarningDays), Class: "warn", Y: 8})
		}
		c.Lines = append(c.Lines, chartLine{X: x(rule.LimitDays), Label: fmt.Sprintf("limit %dd", rule.LimitDays), Class: "limit", Y: 20})
	}
	return c
}
