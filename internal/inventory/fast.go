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
// GetAccountAuthorizationDetails for their tags, then live confirmation of
// candidate credentials only. API calls grow with findings, not users.
type ReportSource struct {
	Clients Clients
	Screen  Screen
	// PollInterval between GenerateCredentialReport calls while the report
	// is being generated (default 2s); PollTimeout bounds the wait (default
	// 2m). LimitExceeded answers are retried with backoff within the same
	// bound.
	PollInterval time.Duration
	PollTimeout  time.Duration
	// Concurrency of the confirming calls within one account (default 8).
	Concurrency int
	// Sleep is time.Sleep honouring ctx; replaceable in tests.
	Sleep func(ctx context.Context, d time.Duration) error
}

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
}

// stale reports whether the report predates the scan: then it may show
// credentials removed, deactivated or used since.
func (r reportInfo) stale() bool {
	return r.start.IsZero() || r.generated.Before(r.start.Add(-ReportClockSkew))
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
	calls := &counter{}
	rep, info, err := s.report(ctx, c, a, calls)
	if err != nil {
		return nil, err
	}
	if a.ID == "" {
		a.ID = rep.AccountID
	} else if rep.AccountID != "" && rep.AccountID != a.ID {
		return nil, wrap(a, "credential report", fmt.Errorf("report is for account %s, not %s: check the credentials or role for this account", rep.AccountID, a.ID))
	}
	live, err := s.liveUsers(ctx, c, a, calls)
	if err != nil {
		return nil, err
	}
	users, err := s.join(ctx, c, a, rep.Users, info, live, calls)
	if err != nil {
		return nil, err
	}
	facts := &Facts{Account: a, ReportGenerated: info.generated, ReportStale: info.stale(), Users: users}
	if !info.start.IsZero() && info.start.After(info.generated) {
		facts.ReportAge = info.start.Sub(info.generated)
	}
	if err := s.confirm(ctx, c, facts, calls); err != nil {
		return nil, err
	}
	facts.Complete = true
	facts.Calls = calls.snapshot()
	return facts, nil
}

func (s *ReportSource) report(ctx context.Context, c IAMReader, a Account, calls *counter) (*CredentialReport, reportInfo, error) {
	var info reportInfo
	interval, timeout := s.PollInterval, s.PollTimeout
	if interval <= 0 {
		interval = 2 * time.Second
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
		}
		var wait time.Duration
		switch {
		case err == nil && out.State == types.ReportStateTypeComplete:
			wait = -1
		case err == nil:
			wait = interval
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

// confirm re-reads the live state of every candidate credential: the report
// can be four hours old, and a finding must never come from stale data.
func (s *ReportSource) confirm(ctx context.Context, c IAMReader, f *Facts, calls *counter) error {
	if s.Screen == nil {
		return nil
	}
	pick := func(u *User) bool {
		keys, pw := s.Screen(f.Account.ID, u)
		return len(keys) > 0 || pw
	}
	users, err := readUsers(f.Users, s.Concurrency, pick, func(u *User) (bool, error) {
		keys, pw := s.Screen(f.Account.ID, u) // pure and cheap: again rather than shared state
		return s.confirmUser(ctx, c, f.Account, u, len(keys) > 0, pw, f.ReportStale, calls)
	})
	if err != nil {
		return err
	}
	f.Users = users
	return nil
}

// confirmUser replaces the report's view of u with live state. It returns
// deleted=true when the user no longer exists. When the report is stale the
// login profile is read too: a profile deleted since the report must not
// come back as a finding.
func (s *ReportSource) confirmUser(ctx context.Context, c IAMReader, a Account, u *User, keys, pw, stale bool, calls *counter) (deleted bool, err error) {
	if keys {
		live, err := listKeys(ctx, c, a, u.Name, calls)
		if IsNoSuchEntity(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		u.Keys = matchSlots(u.Keys, live)
		cand, _ := s.Screen(a.ID, u)
		for _, i := range cand {
			if err := keyLastUsed(ctx, c, a, &u.Keys[i], calls); err != nil {
				return false, err
			}
		}
	}
	if pw && u.Password != nil {
		if stale {
			calls.add("GetLoginProfile")
			lp, err := c.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String(u.Name)})
			switch {
			case IsNoSuchEntity(err):
				// No login profile (or no user: GetUser below tells).
				u.Password = nil
			case err != nil:
				return false, wrap(a, "get login profile of "+u.Name, err)
			case lp.LoginProfile == nil:
				return false, wrap(a, "get login profile of "+u.Name, errors.New("the answer has no LoginProfile"))
			}
		}
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
		if t := out.User.PasswordLastUsed; u.Password != nil && t != nil && (u.Password.LastUsed == nil || t.After(*u.Password.LastUsed)) {
			lu := t.UTC()
			u.Password.LastUsed = &lu
		}
	}
	return false, nil
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
