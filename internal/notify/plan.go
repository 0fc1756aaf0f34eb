package notify

import (
	"time"

	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

// StaleRemediation: a remediation older than this, of an issue nobody was
// told about, is not announced.
const StaleRemediation = 7 * policy.Day

// Due is what one channel owes one issue to one target: the events due (in
// order) and the live deliveries no longer due (to cancel, with a note).
type Due struct {
	Events []Event
	// Seq of each event (repeated warnings count up).
	Seqs   []int
	Cancel []*Delivery
	// Retry are live deliveries still due: sent again, not re-planned.
	Retry []*Delivery
}

// Plan decides what one channel owes issue is for target, from the
// deliveries already recorded for (issue, channel, target), as of asOf.
// interval is the warning interval in days (>= 1). Pure: no I/O, no clock.
func Plan(is *issues.Issue, past []*Delivery, interval int, asOf time.Time) Due {
	var d Due
	has := map[Event]bool{}
	announced := false
	var lastWarning *Delivery
	var lastSeq int
	for _, p := range past {
		if p.State == Cancelled {
			if p.Event == Warning && p.Seq > lastSeq {
				lastSeq = p.Seq
			}
			continue
		}
		has[p.Event] = true
		if (p.State == Sent || p.State == Sending) && !p.Event.Closing() {
			announced = true
		}
		if p.Event == Warning {
			if p.Seq > lastSeq {
				lastSeq = p.Seq
			}
			if p.State == Sent && (lastWarning == nil || p.Seq > lastWarning.Seq) {
				lastWarning = p
			}
		}
	}
	want := map[Event]bool{}
	switch is.Status {
	case issues.Open:
		switch is.Stage {
		case policy.Violation:
			want[Violation] = true
		case policy.Warning:
			want[Warning] = true
		}
	case issues.Whitelisted:
		want[Whitelisted] = announced
	case issues.Remediated:
		fresh := is.Remediated == nil || asOf.Sub(*is.Remediated) <= StaleRemediation
		want[Remediated] = announced || fresh
	case issues.Resolved:
		want[Resolved] = announced
	}
	// Live deliveries: retry those still wanted, cancel the others.
	liveWarning := false
	for _, p := range past {
		if !p.State.Live() || p.Event == RemediationWarning || p.Event == ExemptionExpired { // PlanRemediationWarning's, PlanExemptionExpired's
			continue
		}
		if want[p.Event] {
			d.Retry = append(d.Retry, p)
			if p.Event == Warning {
				liveWarning = true
			}
			continue
		}
		p.Note = "superseded: issue is now " + describeState(is)
		d.Cancel = append(d.Cancel, p)
	}
	for _, e := range []Event{Warning, Violation, Remediated, Resolved, Whitelisted} {
		if !want[e] {
			continue
		}
		if e == Warning {
			if liveWarning {
				continue
			}
			if lastWarning != nil && lastWarning.SentAt != nil && dayNumber(asOf)-dayNumber(*lastWarning.SentAt) < int64(interval) {
				continue
			}
			d.Events, d.Seqs = append(d.Events, e), append(d.Seqs, lastSeq+1)
			continue
		}
		if has[e] {
			continue
		}
		d.Events, d.Seqs = append(d.Events, e), append(d.Seqs, 1)
	}
	return d
}

func describeState(is *issues.Issue) string {
	if is.Status == issues.Open {
		return string(is.Stage)
	}
	return string(is.Status)
}

// dayNumber is the UTC calendar day of t: warnings a day apart are due on
// consecutive days whatever the hour of the run.
func dayNumber(t time.Time) int64 {
	return t.UTC().Unix() / int64(policy.Day/time.Second)
}

// PlanRemediationWarning decides the remediation warning one channel owes
// issue is for target, as Hammer's remediation job warns on the days of
// slack.remediation_warning_days before it acts: due is when the issue
// becomes due (its report plus the retention; ok false when it will not be
// remediated or is not reported yet). Of the stages (days before due)
// reached by asOf, the nearest is sent once (a run that missed the earlier
// stages does not send them all); live warnings are retried while the issue
// is still to be remediated, cancelled once it is not. Pure.
func PlanRemediationWarning(is *issues.Issue, past []*Delivery, stages []int, due time.Time, ok bool, asOf time.Time) Due {
	var d Due
	wanted := ok && is.Status == issues.Open && is.Stage == policy.Violation && is.Reported != nil && len(stages) > 0
	for _, p := range past {
		if p.Event != RemediationWarning || !p.State.Live() {
			continue
		}
		if wanted {
			d.Retry = append(d.Retry, p)
			continue
		}
		p.Note = "superseded: issue is now " + describeState(is)
		d.Cancel = append(d.Cancel, p)
	}
	if !wanted || len(d.Retry) > 0 {
		return d
	}
	nearest := -1
	for _, w := range stages {
		if w >= 0 && !asOf.Before(policy.AddDays(due, -w)) && (nearest < 0 || w < nearest) {
			nearest = w
		}
	}
	if nearest < 0 {
		return d
	}
	for _, p := range past {
		if p.Event == RemediationWarning && (p.Seq <= nearest && p.State == Sent || p.Seq == nearest) {
			return d // this stage (or a nearer one) was told, or was cancelled
		}
	}
	d.Events, d.Seqs = []Event{RemediationWarning}, []int{nearest}
	return d
}

// RemediationWarningDate is the date a remediation warning states: the
// issue's due date, or, when the first warning came late, that warning
// (first, or this one) plus the nearest stage, so that the owner always has
// that long; remediate.MakePlan waits for the same date.
func RemediationWarningDate(due time.Time, firstWarned *time.Time, stages []int, sentAt time.Time) time.Time {
	least := -1
	for _, w := range stages {
		if w >= 0 && (least < 0 || w < least) {
			least = w
		}
	}
	if least < 0 {
		return due
	}
	from := sentAt
	if firstWarned != nil {
		from = *firstWarned
	}
	if d := policy.AddDays(from, least); d.After(due) {
		return d
	}
	return due
}

// PlanExemptionExpired decides the exemption_expired notice one channel owes
// issue is for target: ended is the exemption with an end that covered the
// issue and has ended (nil when none). An open issue detected before the end
// is told once per end (Seq is the end's day number: a later exemption of
// the same credential that ends too is told again); live notices are
// retried while the issue is open, cancelled once it is not. Pure.
func PlanExemptionExpired(is *issues.Issue, past []*Delivery, ended *policy.Exemption) Due {
	var d Due
	wanted := ended != nil && is.Status == issues.Open && is.Detected.Before(ended.Until)
	seq := 0
	if ended != nil {
		seq = int(dayNumber(ended.Until))
	}
	for _, p := range past {
		if p.Event != ExemptionExpired {
			continue
		}
		if p.State.Live() {
			if wanted {
				d.Retry = append(d.Retry, p)
				continue
			}
			p.Note = "superseded: issue is now " + describeState(is)
			d.Cancel = append(d.Cancel, p)
			continue
		}
		if p.Seq == seq {
			wanted = false // told (or cancelled) for this end
		}
	}
	if wanted && len(d.Retry) == 0 {
		d.Events, d.Seqs = []Event{ExemptionExpired}, []int{seq}
	}
	return d
}
