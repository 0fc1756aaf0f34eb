package awsguard_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keywarden/keywarden/internal/awsguard"
	"github.com/keywarden/keywarden/internal/awstest"
)

const (
	acct = "111111111111"
	akid = "AKIAGUARDTEST0000001"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// world is an awstest server with one account (alice: a key and a login
// profile), an organization, and guarded SDK clients.
type world struct {
	srv  *awstest.Server
	iam  *iam.Client
	sts  *sts.Client
	orgs *organizations.Client
}

func newWorld(t *testing.T, timeout time.Duration) *world {
	t.Helper()
	srv := awstest.New()
	t.Cleanup(srv.Close)
	srv.SetClock(func() time.Time { return now })
	srv.AddCaller(akid, "secret", acct, "keywarden")
	srv.AddAccount(awstest.Account{ID: acct, Users: []awstest.User{{
		Name: "alice", Created: now.AddDate(-1, 0, 0),
		LoginProfile: &awstest.LoginProfile{Created: now.AddDate(-1, 0, 0)},
		Keys:         []awstest.Key{{ID: "AKIAALICE00000000001", Created: now.AddDate(0, -6, 0), LastUsed: aws.Time(now.AddDate(0, 0, -1))}},
	}}})
	srv.SetOrganization(acct, []awstest.OrgAccount{{ID: acct, Name: "main"}})
	cfg := srv.Config(akid, "secret")
	awsguard.Install(&cfg, awsguard.Options{AttemptTimeout: timeout})
	return &world{srv: srv, iam: iam.NewFromConfig(cfg), sts: sts.NewFromConfig(cfg), orgs: organizations.NewFromConfig(cfg)}
}

// calls are the guarded actions, each made once with the SDK client.
var calls = []struct {
	service, action string
	paginated       bool
	call            func(context.Context, *world) error
}{
	{"IAM", "GetUser", false, func(ctx context.Context, w *world) error {
		_, err := w.iam.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")})
		return err
	}},
	{"IAM", "GetLoginProfile", false, func(ctx context.Context, w *world) error {
		_, err := w.iam.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String("alice")})
		return err
	}},
	{"IAM", "GetAccessKeyLastUsed", false, func(ctx context.Context, w *world) error {
		_, err := w.iam.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String("AKIAALICE00000000001")})
		return err
	}},
	{"IAM", "GenerateCredentialReport", false, func(ctx context.Context, w *world) error {
		_, err := w.iam.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
		return err
	}},
	{"IAM", "GetCredentialReport", false, func(ctx context.Context, w *world) error {
		w.srv.CacheReport(acct, now.Add(-time.Hour))
		_, err := w.iam.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
		return err
	}},
	{"IAM", "ListAccessKeys", true, func(ctx context.Context, w *world) error {
		_, err := w.iam.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("alice")})
		return err
	}},
	{"IAM", "ListUsers", true, func(ctx context.Context, w *world) error {
		_, err := w.iam.ListUsers(ctx, &iam.ListUsersInput{})
		return err
	}},
	{"IAM", "ListUserTags", true, func(ctx context.Context, w *world) error {
		_, err := w.iam.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String("alice")})
		return err
	}},
	{"IAM", "GetAccountAuthorizationDetails", true, func(ctx context.Context, w *world) error {
		_, err := w.iam.GetAccountAuthorizationDetails(ctx, &iam.GetAccountAuthorizationDetailsInput{})
		return err
	}},
	{"STS", "GetCallerIdentity", false, func(ctx context.Context, w *world) error {
		_, err := w.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		return err
	}},
	{"STS", "AssumeRole", false, func(ctx context.Context, w *world) error {
		_, err := w.sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/keywarden-audit"), RoleSessionName: aws.String("keywarden")})
		return err
	}},
	{"Organizations", "ListAccounts", false, func(ctx context.Context, w *world) error {
		out, err := w.orgs.ListAccounts(ctx, &organizations.ListAccountsInput{})
		if err == nil && len(out.Accounts) == 0 {
			return errors.New("no accounts")
		}
		return err
	}},
}

// A persistent bad answer fails the call with an Error naming the service
// and the action, after every attempt; a one-off one heals by retry.
func TestBadAnswers(t *testing.T) {
	modes := append(append([]awstest.FaultMode{}, awstest.BadAnswerModes...), awstest.ModeHang)
	for _, c := range calls {
		for _, mode := range modes {
			if mode == awstest.ModeTruncated && !c.paginated {
				continue
			}
			if mode == awstest.ModeHang && c.action != "GetUser" && c.action != "GetCallerIdentity" && c.action != "ListAccounts" {
				continue // the deadline is the same for every action: one per service
			}
			t.Run(c.action+"/"+mode.String(), func(t *testing.T) {
				t.Parallel() // the hangs wait out their deadlines
				ctx := context.Background()
				w := newWorld(t, 250*time.Millisecond)
				if err := c.call(ctx, w); err != nil {
					t.Fatalf("clean call: %v", err)
				}

				w.srv.Inject(awstest.Fault{Action: c.action, Mode: mode})
				w.srv.ResetCalls()
				err := c.call(ctx, w)
				var ge *awsguard.Error
				if !errors.As(err, &ge) {
					t.Fatalf("persistent %s: err = %v, want an awsguard.Error", mode, err)
				}
				if ge.Service != c.service || ge.Operation != c.action || !strings.Contains(err.Error(), c.service+" "+c.action+" ") {
					t.Errorf("error does not name %s %s: %v", c.service, c.action, err)
				}
				if n := w.srv.CountCalls("", c.action); n != 3 {
					t.Errorf("%d attempts, want 3 (retried like a transient error)", n)
				}

				w.srv.ClearFaults()
				w.srv.Inject(awstest.Fault{Action: c.action, Mode: mode, Times: 1})
				if err := c.call(ctx, w); err != nil {
					t.Errorf("one-off %s did not heal: %v", mode, err)
				}
			})
		}
	}
}

func TestErrorMessages(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		action string
		mode   awstest.FaultMode
		want   string
	}{
		{"GetUser", awstest.ModeEmptyBody, "IAM GetUser answered HTTP 200 with an empty body"},
		{"GetUser", awstest.ModeMissingElement, "IAM GetUser answered without User"},
		{"GetUser", awstest.ModeMalformedBody, "IAM GetUser answered HTTP 200 with a body that cannot be decoded"},
		{"ListAccessKeys", awstest.ModeTruncated, "IAM ListAccessKeys answered without Marker (IsTruncated=true"},
		{"ListAccessKeys", awstest.ModeMissingElement, "IAM ListAccessKeys answered without IsTruncated"},
		{"GetUser", awstest.ModeHang, "IAM GetUser gave no complete answer within 100ms"},
	}
	for _, tt := range tests {
		t.Run(tt.action+"/"+tt.mode.String(), func(t *testing.T) {
			w := newWorld(t, 100*time.Millisecond)
			w.srv.Inject(awstest.Fault{Action: tt.action, Mode: tt.mode})
			var err error
			for _, c := range calls {
				if c.action == tt.action {
					err = c.call(ctx, w)
				}
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

// The caller's own deadline is not an attempt timeout: it is not retried.
func TestCallerDeadlineIsNotRetried(t *testing.T) {
	w := newWorld(t, time.Minute)
	w.srv.Inject(awstest.Fault{Action: "GetUser", Mode: awstest.ModeHang})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := w.iam.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")})
	var ge *awsguard.Error
	if err == nil || errors.As(err, &ge) {
		t.Fatalf("err = %v, want the caller's deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
	if n := w.srv.CountCalls("", "GetUser"); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}
