package inventory_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keywarden/keywarden/internal/awstest"
	"github.com/keywarden/keywarden/internal/inventory"
)

const acct = "111111111111"

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// filtered hides users from the credential report or from
// GetAccountAuthorizationDetails, as an incomplete answer would.
type filtered struct {
	inventory.IAMReader
	fromReport, fromList string
}

func (f filtered) GetCredentialReport(ctx context.Context, in *iam.GetCredentialReportInput, opts ...func(*iam.Options)) (*iam.GetCredentialReportOutput, error) {
	out, err := f.IAMReader.GetCredentialReport(ctx, in, opts...)
	if err == nil && f.fromReport != "" {
		var keep [][]byte
		for _, l := range bytes.SplitAfter(out.Content, []byte("\n")) {
			if !bytes.HasPrefix(l, []byte(f.fromReport+",")) {
				keep = append(keep, l)
			}
		}
		out.Content = bytes.Join(keep, nil)
	}
	return out, err
}

func (f filtered) GetAccountAuthorizationDetails(ctx context.Context, in *iam.GetAccountAuthorizationDetailsInput, opts ...func(*iam.Options)) (*iam.GetAccountAuthorizationDetailsOutput, error) {
	out, err := f.IAMReader.GetAccountAuthorizationDetails(ctx, in, opts...)
	if err == nil && f.fromList != "" {
		kept := out.UserDetailList[:0]
		for _, u := range out.UserDetailList {
			if aws.ToString(u.UserName) != f.fromList {
				kept = append(kept, u)
			}
		}
		out.UserDetailList = kept
	}
	return out, err
}

// collect runs the fast path against a server whose report is two hours
// old (cached), with f's filters.
func collect(t *testing.T, users []awstest.User, f filtered) (*inventory.Facts, error) {
	t.Helper()
	srv := awstest.New()
	t.Cleanup(srv.Close)
	srv.SetClock(func() time.Time { return now })
	srv.AddCaller("AKIAFASTPATHTEST0001", "secret", acct, "keywarden")
	srv.AddAccount(awstest.Account{ID: acct, Created: now.AddDate(-3, 0, 0), Users: users})
	srv.CacheReport(acct, now.Add(-2*time.Hour))
	f.IAMReader = iam.NewFromConfig(srv.Config("AKIAFASTPATHTEST0001", "secret"))
	src := &inventory.ReportSource{
		Clients:      func(context.Context, inventory.Account) (inventory.IAMReader, error) { return f, nil },
		PollInterval: time.Millisecond,
	}
	return src.Collect(context.Background(), inventory.Account{ID: acct})
}

var (
	old = awstest.User{Name: "old", Created: now.AddDate(0, 0, -100), Keys: []awstest.Key{{ID: "AKIAOLD0000000000001", Created: now.AddDate(0, 0, -100)}}}
	// newbie was created after the cached report was generated.
	newbie = awstest.User{Name: "newbie", Created: now.Add(-time.Hour), Keys: []awstest.Key{{ID: "AKIANEWBIE0000000001", Created: now.Add(-time.Hour)}},
		LoginProfile: &awstest.LoginProfile{Created: now.Add(-time.Hour)}}
)

func TestFastPathCompleteness(t *testing.T) {
	t.Run("stale report, every user in both", func(t *testing.T) {
		facts, err := collect(t, []awstest.User{old}, filtered{})
		if err != nil {
			t.Fatal(err)
		}
		if !facts.Complete || !facts.ReportStale || facts.ReportAge != 2*time.Hour || len(facts.Users) != 1 {
			t.Errorf("facts: complete %v stale %v age %s users %d", facts.Complete, facts.ReportStale, facts.ReportAge, len(facts.Users))
		}
	})
	t.Run("report lacks a user older than it", func(t *testing.T) {
		_, err := collect(t, []awstest.User{old, newbie}, filtered{fromReport: "old"})
		if !errors.Is(err, inventory.ErrNoReport) || !strings.Contains(err.Error(), "does not list user old") || !strings.Contains(err.Error(), "account "+acct) {
			t.Errorf("err = %v, want the report named incomplete", err)
		}
	})
	t.Run("listing lacks a user that exists", func(t *testing.T) {
		_, err := collect(t, []awstest.User{old}, filtered{fromList: "old"})
		if err == nil || !strings.Contains(err.Error(), "user old is not listed but exists") {
			t.Errorf("err = %v, want the listing named incomplete", err)
		}
	})
	t.Run("user created since the report is read live", func(t *testing.T) {
		facts, err := collect(t, []awstest.User{old, newbie}, filtered{fromReport: "newbie"})
		if err != nil {
			t.Fatal(err)
		}
		var got *inventory.User
		for i := range facts.Users {
			if facts.Users[i].Name == "newbie" {
				got = &facts.Users[i]
			}
		}
		if got == nil || len(got.Keys) != 1 || got.Keys[0].ID != "AKIANEWBIE0000000001" || got.Password == nil || !facts.Complete {
			t.Errorf("newbie = %+v (complete %v)", got, facts.Complete)
		}
	})
}

// slowReport answers STARTED to the first n GenerateCredentialReport calls
// and records the order of the calls.
type slowReport struct {
	inventory.IAMReader
	n     int
	order *[]string
}

func (s *slowReport) GenerateCredentialReport(ctx context.Context, in *iam.GenerateCredentialReportInput, opts ...func(*iam.Options)) (*iam.GenerateCredentialReportOutput, error) {
	*s.order = append(*s.order, "GenerateCredentialReport")
	out, err := s.IAMReader.GenerateCredentialReport(ctx, in, opts...)
	if err == nil && s.n > 0 {
		s.n--
		out.State = "STARTED"
	}
	return out, err
}

// Issue 13 item 4: a report being generated is polled after 250 ms, then
// 500 ms, 1 s, 2 s, 2 s; the user list and tags are read meanwhile.
func TestReportPollingBacksOffAndListsUsersMeanwhile(t *testing.T) {
	srv := awstest.New()
	t.Cleanup(srv.Close)
	srv.SetClock(func() time.Time { return now })
	srv.AddCaller("AKIAFASTPATHTEST0001", "secret", acct, "keywarden")
	srv.AddAccount(awstest.Account{ID: acct, Users: []awstest.User{old}})
	var order []string
	c := &slowReport{IAMReader: iam.NewFromConfig(srv.Config("AKIAFASTPATHTEST0001", "secret")), n: 5, order: &order}
	var sleeps []time.Duration
	listed := make(chan struct{})
	src := &inventory.ReportSource{
		Clients: func(context.Context, inventory.Account) (inventory.IAMReader, error) { return c, nil },
		Sleep: func(ctx context.Context, d time.Duration) error {
			if len(sleeps) == 0 {
				// The first wait ends once the user list was read:
				// it is read while the report is generated.
				select {
				case <-listed:
				case <-time.After(5 * time.Second):
					t.Error("GetAccountAuthorizationDetails was not called while the report was generated")
				}
			}
			sleeps = append(sleeps, d)
			return nil
		},
	}
	go func() {
		for srv.CountCalls(acct, "GetAccountAuthorizationDetails") == 0 {
			time.Sleep(time.Millisecond)
		}
		close(listed)
	}()
	facts, err := src.Collect(context.Background(), inventory.Account{ID: acct})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 2 * time.Second}
	if len(sleeps) != len(want) {
		t.Fatalf("waits %v, want %v", sleeps, want)
	}
	for i := range want {
		if sleeps[i] != want[i] {
			t.Fatalf("waits %v, want %v", sleeps, want)
		}
	}
	if len(facts.Users) != 1 || facts.Calls["GenerateCredentialReport"] != 6 {
		t.Errorf("facts: %d users, calls %v", len(facts.Users), facts.Calls)
	}
}
