package inventory

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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

// Collect implements Source.
func (s *ReportSource) Collect(ctx context.Context, a Account) (*Facts, error) {
	c, err := s.Clients(ctx, a)
	if err != nil {
		return nil, wrap(a, "connect", err)
	}
	calls := &counter{}
	rep, generated, err := s.report(ctx, c, a, calls)
	if err != nil {
		return nil, err
	}
	if a.ID == "" {
		a.ID = rep.AccountID
	} else if rep.AccountID != "" && rep.AccountID != a.ID {
		return nil, wrap(a, "credential report", fmt.Errorf("report is for account %s, not %s: check the credentials or role for this account", rep.AccountID, a.ID))
	}
	tags, err := s.tags(ctx, c, a, calls)
	if err != nil {
		return nil, err
	}
	users := rep.Users[:0]
	for _, u := range rep.Users {
		t, ok := tags[u.Name]
		if !ok {
			continue // deleted since the report was generated
		}
		u.Tags = t
		users = append(users, u)
	}
	facts := &Facts{Account: a, ReportGenerated: generated, Users: users}
	if err := s.confirm(ctx, c, facts, calls); err != nil {
		return nil, err
	}
	facts.Calls = calls.snapshot()
	return facts, nil
}

func (s *ReportSource) report(ctx context.Context, c IAMReader, a Account, calls *counter) (*CredentialReport, time.Time, error) {
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
	for {
		calls.add("GenerateCredentialReport")
		out, err := c.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
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
			return nil, time.Time{}, wrap(a, "generate credential report", fmt.Errorf("%w: %w", ErrNoReport, err))
		}
		if wait < 0 {
			break
		}
		if waited+wait > timeout {
			why := "still generating"
			if err != nil {
				why = err.Error()
			}
			return nil, time.Time{}, wrap(a, "generate credential report", fmt.Errorf("%w after %s (%s): retry later, or raise the poll timeout", ErrNoReport, waited, why))
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, time.Time{}, wrap(a, "generate credential report", err)
		}
		waited += wait
	}
	calls.add("GetCredentialReport")
	out, err := c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if err != nil {
		return nil, time.Time{}, wrap(a, "get credential report", fmt.Errorf("%w: %w", ErrNoReport, err))
	}
	rep, err := ParseCredentialReportBytes(out.Content, "credential report of account "+a.ID)
	if err != nil {
		return nil, time.Time{}, wrap(a, "parse credential report", err)
	}
	return rep, aws.ToTime(out.GeneratedTime), nil
}

// tags reads every user's tags with GetAccountAuthorizationDetails (1,000
// users a page). Its user list is also the live set of users.
func (s *ReportSource) tags(ctx context.Context, c IAMReader, a Account, calls *counter) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
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
		for _, u := range page.UserDetailList {
			out[aws.ToString(u.UserName)] = tagMap(u.Tags)
		}
	}
	return out, nil
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
		return s.confirmUser(ctx, c, f.Account, u, len(keys) > 0, pw, calls)
	})
	if err != nil {
		return err
	}
	f.Users = users
	return nil
}

// confirmUser replaces the report's view of u with live state. It returns
// deleted=true when the user no longer exists.
func (s *ReportSource) confirmUser(ctx context.Context, c IAMReader, a Account, u *User, keys, pw bool, calls *counter) (deleted bool, err error) {
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
		calls.add("GetUser")
		out, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(u.Name)})
		if IsNoSuchEntity(err) {
			return true, nil
		}
		if err != nil {
			return false, wrap(a, "get user "+u.Name, err)
		}
		if t := out.User.PasswordLastUsed; t != nil && (u.Password.LastUsed == nil || t.After(*u.Password.LastUsed)) {
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
		for _, k := range page.AccessKeyMetadata {
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
