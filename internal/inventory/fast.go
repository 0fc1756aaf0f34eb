package inventory

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// Screen tells the fast path which credentials of a user carry a candidate
// finding: indexes into u.Keys, and whether the password does. The engine
// builds it from the policy rules, so inventory stays free of policy.
type Screen func(account string, u *User) (keys []int, password bool)

// ReportSource is the AWS fast path: one credential report for all users,
// GetAccountAuthorizationDetails for their tags (read while the report is
// generated). A report generated for this scan is live state: only the key
// IDs of candidate keys the store does not know are listed. A cached
// (stale) report makes every suspect confirmed live, at the cheapest cost
// that still proves it. API calls grow with new findings, not users.
type ReportSource struct {
	Clients Clients
	Screen  Screen
	// LastUse screens the keys whose candidate finding depends on their
	// last use (inactivity): only these are re-read with
	// GetAccessKeyLastUsed when a stale report is confirmed. Nil: every
	// candidate key is.
	LastUse Screen
	// KnownKeys, when set, gives the key IDs the issue store already knows
	// for an account; the fast path then lists keys (ListAccessKeys) only
	// for users with a candidate key it does not know.
	KnownKeys KnownKeys
	// PollInterval is the first wait before GenerateCredentialReport is
	// called again while the report is being generated (default 250ms);
	// each further wait doubles, up to 2s. PollTimeout bounds the wait
	// (default 2m). LimitExceeded answers are retried with backoff within
	// the same bound.
	PollInterval time.Duration
	PollTimeout  time.Duration
	// Concurrency is the most calls in flight within one account (default
	// DefaultAccountConcurrency); a throttled account halves it and
	// recovers slowly (see Limiter).
	Concurrency int
	// Sleep is time.Sleep honouring ctx; replaceable in tests.
	Sleep func(ctx context.Context, d time.Duration) error
}

// KeyRef names an access key as a credential report row can: its user,
// its slot (1 or 2) and its creation time, to the second (Unix seconds).
type KeyRef struct {
	User    string
	Slot    int
	Created int64
}

// RefOf is the KeyRef of key k of user.
func RefOf(user string, k AccessKey) KeyRef {
	return KeyRef{User: user, Slot: k.Slot, Created: k.Created.Unix()}
}

// KnownKeys returns the key IDs already known for an account (from the
// issue store), by KeyRef. The inventory stays free of the store: the
// engine provides this.
type KnownKeys func(ctx context.Context, account string) (map[KeyRef]string, error)

// DefaultPollInterval is the first wait before asking again for a report
// being generated; MaxPollInterval the longest.
const (
	DefaultPollInterval = 250 * time.Millisecond
	MaxPollInterval     = 2 * time.Second
)

// ErrNoReport means the credential report could not be had: the account
// fails loudly instead of reading as "no findings".
var ErrNoReport = errors.New("credential report unavailable")

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ReportClockSkew is how much older than the scan's start (on the server's
// clock) a credential report may be and still count as generated for this
// scan: the report's GeneratedTime and the Date header both have one-second
// precision.
const ReportClockSkew = 5 * time.Second

// reportInfo is what the fast path knows about the report it read.
type reportInfo struct {
	generated time.Time
	// start is the server's clock at the first GenerateCredentialReport
	// answer; zero when the answer had no Date header.
	start time.Time
	// read is the server's clock at the GetCredentialReport answer.
	read time.Time
	// generating: the first GenerateCredentialReport answer of this scan
	// was STARTED or INPROGRESS, not COMPLETE. A report already complete
	// at the scan's first request was generated before the scan, whatever
	// second its timestamp shows.
	generating bool
}

// readAt is when the report was read on the server's clock (else the
// scan's start, else zero).
func (r reportInfo) readAt() time.Time {
	if !r.read.IsZero() {
		return r.read
	}
	return r.start
}

// stale reports whether the report predates the scan: then it may show
// credentials removed, deactivated or used since. A fresh report is one
// being generated when the scan first asked, generated at or after the
// scan's start on the server's clock (less ReportClockSkew).
func (r reportInfo) stale() bool {
	return r.start.IsZero() || !r.generating || r.generated.Before(r.start.Add(-ReportClockSkew))
}

// Collect implements Source. The facts are Complete: the users are the
// report's, checked against the live list of GetAccountAuthorizationDetails
// both ways, so a user missing from either is deleted (NoSuchEntity) or the
// account fails.
func (s *ReportSource) Collect(ctx context.Context, a Account) (*Facts, error) {
	c, err := s.Clients(ctx, a)
	if err != nil {
		return nil, wrap(a, "connect", err)
	}
	lim := NewLimiter(s.Concurrency)
	c = lim.Reader(c)
	calls := &counter{}
	var (
		live    map[string]liveUser
		liveErr error
		liveCh  chan struct{}
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if a.ID != "" {
		// The user list and tags are read while the report is generated.
		liveCh = make(chan struct{})
		go func() {
			defer close(liveCh)
			live, liveErr = s.liveUsers(ctx, c, a, calls)
		}()
	}
	rep, info, err := s.report(ctx, c, a, calls)
	if err != nil {
		if liveCh != nil {
			cancel()
			<-liveCh
		}
		return nil, err
	}
	if a.ID == "" {
		a.ID = rep.AccountID
	} else if rep.AccountID != "" && rep.AccountID != a.ID {
		if liveCh != nil {
			cancel()
			<-liveCh
		}
		return nil, wrap(a, "credential report", fmt.Errorf("report is for account %s, not %s: check the credentials or role for this account", rep.AccountID, a.ID))
	}
	if liveCh != nil {
		<-liveCh
	} else {
		live, liveErr = s.liveUsers(ctx, c, a, calls)
	}
	if liveErr != nil {
		return nil, liveErr
	}
	users, err := s.join(ctx, c, a, rep.Users, info, live, calls)
	if err != nil {
		return nil, err
	}
	facts := &Facts{Account: a, ReportGenerated: info.generated, ReportStale: info.stale(), Users: users}
	if ref := info.readAt(); !ref.IsZero() && ref.After(info.generated) {
		facts.ReportAge = ref.Sub(info.generated)
	}
	if facts.ReportStale {
		err = s.confirm(ctx, c, facts, calls)
	} else {
		err = s.keyIDs(ctx, c, facts, calls)
	}
	if err != nil {
		return nil, err
	}
	facts.Complete = true
	facts.Calls = calls.snapshot()
	facts.Throttled = lim.Throttled()
	return facts, nil
}

func (s *ReportSource) report(ctx context.Context, c IAMReader, a Account, calls *counter) (*CredentialReport, reportInfo, error) {
	var info reportInfo
	interval, timeout := s.PollInterval, s.PollTimeout
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	sleep := s.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	var waited time.Duration
	backoff := interval
	answered := false
	for {
		calls.add("GenerateCredentialReport")
		out, err := c.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
		if err == nil && !answered {
			// The scan's start on the server's clock: a report generated
			// before it is a cached one.
			answered = true
			if t, ok := awsmiddleware.GetServerTime(out.ResultMetadata); ok {
				info.start = t.UTC()
			}
			info.generating = out.State != types.ReportStateTypeComplete
		}
		var wait time.Duration
		switch {
		case err == nil && out.State == types.ReportStateTypeComplete:
			wait = -1
		case err == nil:
			// STARTED or INPROGRESS: a small report is ready within a
			// fraction of a second, a large one takes longer.
			wait = interval
			interval = min(interval*2, MaxPollInterval)
		case errorCode(err) == "LimitExceeded" || errorCode(err) == "LimitExceededException":
			wait = backoff
			backoff *= 2
		default:
			return nil, info, wrap(a, "generate credential report", fmt.Errorf("%w: %w", ErrNoReport, err))
		}
		if wait < 0 {
			break
		}
		if waited+wait > timeout {
			why := "still generating"
			if err != nil {
				why = err.Error()
			}
			return nil, info, wrap(a, "generate credential report", fmt.Errorf("%w after %s (%s): retry later, or raise the poll timeout", ErrNoReport, waited, why))
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, info, wrap(a, "generate credential report", err)
		}
		waited += wait
	}
	calls.add("GetCredentialReport")
	out, err := c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if err != nil {
		return nil, info, wrap(a, "get credential report", fmt.Errorf("%w: %w", ErrNoReport, err))
	}
	if len(out.Content) == 0 || out.GeneratedTime == nil {
		return nil, info, wrap(a, "get credential report", fmt.Errorf("%w: the answer has no Content or no GeneratedTime", ErrNoReport))
	}
	info.generated = out.GeneratedTime.UTC()
	if t, ok := awsmiddleware.GetServerTime(out.ResultMetadata); ok {
		info.read = t.UTC()
	}
	rep, err := ParseCredentialReportBytes(out.Content, "credential report of account "+a.ID)
	if err != nil {
		return nil, info, wrap(a, "parse credential report", err)
	}
	return rep, info, nil
}

// liveUser is a user as GetAccountAuthorizationDetails lists it.
type liveUser struct {
	created time.Time
	tags    map[string]string
}

// liveUsers lists every user with GetAccountAuthorizationDetails (1,000
// users a page): the live set of users, with their tags.
func (s *ReportSource) liveUsers(ctx context.Context, c IAMReader, a Account, calls *counter) (map[string]liveUser, error) {
	out := map[string]liveUser{}
	p := iam.NewGetAccountAuthorizationDetailsPaginator(c, &iam.GetAccountAuthorizationDetailsInput{
		Filter:   []types.EntityType{types.EntityTypeUser},
		MaxItems: aws.Int32(1000),
	})
	for p.HasMorePages() {
		calls.add("GetAccountAuthorizationDetails")
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrap(a, "get account authorization details", err)
		}
		if page.IsTruncated && aws.ToString(page.Marker) == "" {
			// The paginator would stop here as if this were the last page.
			return nil, wrap(a, "get account authorization details", errors.New("a page says more users follow but gives no Marker: the user list is incomplete"))
		}
		for _, u := range page.UserDetailList {
			if u.UserName == nil || u.CreateDate == nil {
				return nil, wrap(a, "get account authorization details", errors.New("a user without UserName or CreateDate: the answer is incomplete"))
			}
			out[*u.UserName] = liveUser{created: u.CreateDate.UTC(), tags: tagMap(u.Tags)}
		}
	}
	return out, nil
}

// join checks the report's users against the live list and gives them
// their tags:
//   - a report user the list lacks is deleted only if GetUser says
//     NoSuchEntity; if it exists, the list was incomplete and the account
//     fails;
//   - a listed user the report lacks, created before the report, means the
//     report is incomplete: the account fails;
//   - a listed user created since the report (or deleted and created again
//     under the same name) is read live.
func (s *ReportSource) join(ctx context.Context, c IAMReader, a Account, report []User, info reportInfo, live map[string]liveUser, calls *counter) ([]User, error) {
	var absent, fresh []User
	inReport := make(map[string]bool, len(report))
	users := report[:0]
	for _, u := range report {
		inReport[u.Name] = true
		l, ok := live[u.Name]
		switch {
		case !ok:
			absent = append(absent, u)
		case !sameSecond(l.created, u.Created):
			fresh = append(fresh, User{Name: u.Name, Created: l.created, Tags: l.tags})
		default:
			u.Tags = l.tags
			users = append(users, u)
		}
	}
	for name, l := range live {
		if inReport[name] {
			continue
		}
		if l.created.Before(info.generated.Add(-ReportClockSkew)) {
			return nil, wrap(a, "credential report", fmt.Errorf("%w: the report generated %s does not list user %s, created %s before it: the report is incomplete; retry later",
				ErrNoReport, info.generated.Format(time.RFC3339), name, l.created.Format(time.RFC3339)))
		}
		fresh = append(fresh, User{Name: name, Created: l.created, Tags: l.tags})
	}
	if _, err := readUsers(absent, s.Concurrency, nil, func(u *User) (bool, error) {
		calls.add("GetUser")
		_, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(u.Name)})
		switch {
		case IsNoSuchEntity(err):
			return true, nil
		case err != nil:
			return false, wrap(a, "get user "+u.Name, err)
		}
		return false, wrap(a, "get account authorization details", fmt.Errorf("user %s is not listed but exists (GetUser): the user list is incomplete", u.Name))
	}); err != nil {
		return nil, err
	}
	if len(fresh) > 0 {
		sort.Slice(fresh, func(i, j int) bool { return fresh[i].Name < fresh[j].Name })
		kept, err := readUsers(fresh, s.Concurrency, nil, func(u *User) (bool, error) {
			calls.add("GetUser")
			out, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(u.Name)})
			if IsNoSuchEntity(err) {
				return true, nil
			}
			if err != nil {
				return false, wrap(a, "get user "+u.Name, err)
			}
			if out.User == nil {
				return false, wrap(a, "get user "+u.Name, errors.New("the answer has no User"))
			}
			u.ARN = aws.ToString(out.User.Arn)
			if t := out.User.PasswordLastUsed; t != nil {
				lu := t.UTC()
				u.Password = &Password{LastUsed: &lu}
			}
			err = ReadUser(ctx, c, a, u, calls)
			if IsNoSuchEntity(err) {
				return true, nil
			}
			return false, err
		})
		if err != nil {
			return nil, err
		}
		users = append(users, kept...)
	}
	return users, nil
}

func sameSecond(a, b time.Time) bool {
	return a.Truncate(time.Second).Equal(b.Truncate(time.Second))
}

// keyIDs gives the candidate keys of a fresh report their IDs: from the
// store when it knows the (user, slot, creation time), else from
// ListAccessKeys for that user. A fresh report is live state: nothing else
// is read.
func (s *ReportSource) keyIDs(ctx context.Context, c IAMReader, f *Facts, calls *counter) error {
	if s.Screen == nil {
		return nil
	}
	var known map[KeyRef]string
	if s.KnownKeys != nil {
		var err error
		if known, err = s.KnownKeys(ctx, f.Account.ID); err != nil {
			return wrap(f.Account, "read the key IDs the issue store knows", err)
		}
	}
	// resolve sets the IDs of u's candidate keys from the store and
	// reports whether all were known.
	resolve := func(u *User) bool {
		keys, _ := s.Screen(f.Account.ID, u)
		all := true
		for _, i := range keys {
			k := &u.Keys[i]
			if k.ID != "" {
				continue
			}
			if id, ok := known[RefOf(u.Name, *k)]; ok {
				k.ID = id
			} else {
				all = false
			}
		}
		return all
	}
	users, err := readUsers(f.Users, s.Concurrency, func(u *User) bool { return !resolve(u) }, func(u *User) (bool, error) {
		live, err := listKeys(ctx, c, f.Account, u.Name, calls)
		if IsNoSuchEntity(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		u.Keys = matchSlots(u.Keys, live)
		return false, nil
	})
	if err != nil {
		return err
	}
	f.Users = users
	return nil
}

// confirm re-reads the live state of every suspect of a stale report: it
// can be four hours old, and a finding must never come from stale data.
//   - Key suspects: ListAccessKeys (the key still exists, its status, its
//     ID), then GetAccessKeyLastUsed only for keys whose finding depends on
//     last use (a rotation-only suspect's age is its creation).
//   - Password suspects: PasswordLastUsed from ListUsers pages (1,000 users
//     a call), then GetLoginProfile only for those still suspect.
func (s *ReportSource) confirm(ctx context.Context, c IAMReader, f *Facts, calls *counter) error {
	if s.Screen == nil {
		return nil
	}
	a := f.Account
	keySuspect := func(u *User) bool {
		keys, _ := s.Screen(a.ID, u)
		return len(keys) > 0
	}
	pwSuspect := func(u *User) bool {
		if u.Password == nil {
			return false
		}
		_, pw := s.Screen(a.ID, u)
		return pw
	}
	var pwUsers int
	for i := range f.Users {
		if pwSuspect(&f.Users[i]) {
			pwUsers++
		}
	}
	var suspects atomicCount
	users, err := readUsers(f.Users, s.Concurrency, keySuspect, func(u *User) (bool, error) {
		keys, _ := s.Screen(a.ID, u)
		suspects.add(len(keys))
		live, err := listKeys(ctx, c, a, u.Name, calls)
		if IsNoSuchEntity(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		u.Keys = matchSlots(u.Keys, live)
		screen := s.LastUse
		if screen == nil {
			screen = s.Screen
		}
		cand, _ := screen(a.ID, u)
		for _, i := range cand {
			if err := keyLastUsed(ctx, c, a, &u.Keys[i], calls); err != nil {
				return false, err
			}
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	f.Users = users
	if pwUsers > 0 {
		suspects.add(pwUsers)
		lastUsed, err := passwordsLastUsed(ctx, c, a, calls)
		if err != nil {
			return err
		}
		for i := range f.Users {
			u := &f.Users[i]
			if u.Password == nil {
				continue
			}
			if t, ok := lastUsed[u.Name]; ok && t != nil && (u.Password.LastUsed == nil || t.After(*u.Password.LastUsed)) {
				lu := t.UTC()
				u.Password.LastUsed = &lu
			}
		}
		if _, err := readUsers(f.Users, s.Concurrency, pwSuspect, func(u *User) (bool, error) {
			calls.add("GetLoginProfile")
			lp, err := c.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String(u.Name)})
			switch {
			case IsNoSuchEntity(err):
				// No login profile (or no user): no password to judge.
				u.Password = nil
			case err != nil:
				return false, wrap(a, "get login profile of "+u.Name, err)
			case lp.LoginProfile == nil:
				return false, wrap(a, "get login profile of "+u.Name, errors.New("the answer has no LoginProfile"))
			}
			return false, nil
		}); err != nil {
			return err
		}
	}
	f.Confirmed = suspects.load()
	return nil
}

// passwordsLastUsed reads every user's PasswordLastUsed with ListUsers
// (1,000 users a page).
func passwordsLastUsed(ctx context.Context, c IAMReader, a Account, calls *counter) (map[string]*time.Time, error) {
	out := map[string]*time.Time{}
	p := iam.NewListUsersPaginator(c, &iam.ListUsersInput{MaxItems: aws.Int32(1000)})
	for p.HasMorePages() {
		calls.add("ListUsers")
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrap(a, "list users", err)
		}
		if page.IsTruncated && aws.ToString(page.Marker) == "" {
			return nil, wrap(a, "list users", errors.New("a page says more users follow but gives no Marker: the user list is incomplete"))
		}
		for _, u := range page.Users {
			if u.UserName == nil {
				return nil, wrap(a, "list users", errors.New("a user without UserName: the answer is incomplete"))
			}
			out[*u.UserName] = u.PasswordLastUsed
		}
	}
	return out, nil
}

func listKeys(ctx context.Context, c IAMReader, a Account, user string, calls *counter) ([]AccessKey, error) {
	var keys []AccessKey
	p := iam.NewListAccessKeysPaginator(c, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	for p.HasMorePages() {
		calls.add("ListAccessKeys")
		page, err := p.NextPage(ctx)
		if err != nil {
			if IsNoSuchEntity(err) {
				return nil, err
			}
			return nil, wrap(a, "list access keys of "+user, err)
		}
		if page.IsTruncated && aws.ToString(page.Marker) == "" {
			return nil, wrap(a, "list access keys of "+user, errors.New("a page says more keys follow but gives no Marker: the key list is incomplete"))
		}
		for _, k := range page.AccessKeyMetadata {
			if k.AccessKeyId == nil || k.CreateDate == nil || k.Status == "" {
				return nil, wrap(a, "list access keys of "+user, errors.New("a key without AccessKeyId, Status or CreateDate: the answer is incomplete"))
			}
			keys = append(keys, AccessKey{
				ID:      aws.ToString(k.AccessKeyId),
				Status:  string(k.Status),
				Created: aws.ToTime(k.CreateDate).UTC(),
			})
		}
	}
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].Created.Before(keys[j].Created) })
	return keys, nil
}

func keyLastUsed(ctx context.Context, c IAMReader, a Account, k *AccessKey, calls *counter) error {
	calls.add("GetAccessKeyLastUsed")
	out, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(k.ID)})
	if err != nil {
		return wrap(a, "get access key last used "+k.ID, err)
	}
	if out.AccessKeyLastUsed == nil {
		// Read as "never used", a key in daily use would be deactivated.
		return wrap(a, "get access key last used "+k.ID, errors.New("the answer has no AccessKeyLastUsed"))
	}
	if lu := out.AccessKeyLastUsed; lu != nil {
		if lu.LastUsedDate != nil {
			t := lu.LastUsedDate.UTC()
			k.LastUsed = &t
		} else {
			k.LastUsed = nil
		}
		k.LastUsedService = naEmpty(aws.ToString(lu.ServiceName))
		k.LastUsedRegion = naEmpty(aws.ToString(lu.Region))
	}
	return nil
}

func naEmpty(s string) string {
	if s == "N/A" {
		return ""
	}
	return s
}

// matchSlots joins the report's key slots (no IDs) with the live keys (IDs)
// by creation time, to the second. Live keys are the truth: a slot with no
// live key was deleted; a live key with no slot was created after the report
// and has no recorded use yet. Statuses come from the live keys.
func matchSlots(report, live []AccessKey) []AccessKey {
	out := make([]AccessKey, 0, len(live))
	used := make([]bool, len(report))
	for _, lk := range live {
		k := lk
		for j, rk := range report {
			if !used[j] && rk.Created.Truncate(time.Second).Equal(lk.Created.Truncate(time.Second)) {
				used[j] = true
				k.Slot = rk.Slot
				k.LastUsed = rk.LastUsed
				k.LastUsedService, k.LastUsedRegion = rk.LastUsedService, rk.LastUsedRegion
				break
			}
		}
		out = append(out, k)
	}
	return out
}
