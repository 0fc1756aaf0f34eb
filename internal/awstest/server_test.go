package awstest_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/keywarden/keywarden/internal/awstest"
)

const (
	acctA  = "111111111111"
	acctB  = "222222222222"
	akid   = "AKIAMAINCALLER000001"
	secret = "main-secret"
)

var (
	t0      = time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC)
	created = time.Date(2022, 6, 1, 9, 0, 0, 0, time.UTC)
)

func ptr[T any](v T) *T { return &v }

// newServer starts a server with account A (alice, bob) and B (carol), a
// caller in A and a clock fixed at t0.
func newServer(t *testing.T) *awstest.Server {
	t.Helper()
	srv := awstest.New()
	t.Cleanup(srv.Close)
	srv.SetClock(func() time.Time { return t0 })
	srv.AddAccount(awstest.Account{ID: acctA, Users: []awstest.User{
		{
			Name:             "alice",
			Created:          created,
			Tags:             map[string]string{"owner": "team-a", "env": "prod"},
			LoginProfile:     &awstest.LoginProfile{Created: created.Add(time.Hour)},
			PasswordLastUsed: ptr(created.Add(48 * time.Hour)),
			Keys: []awstest.Key{
				{ID: "AKIAALICE2", Status: "Inactive", Created: created.Add(72 * time.Hour)},
				{ID: "AKIAALICE1", Created: created.Add(24 * time.Hour), LastUsed: ptr(created.Add(30 * 24 * time.Hour)), LastUsedService: "s3", LastUsedRegion: "eu-west-1"},
			},
		},
		{Name: "bob", Path: "/eng/", Created: created},
		{Name: "keywarden", Created: created, Keys: []awstest.Key{{ID: akid, Created: created}}},
	}})
	srv.AddAccount(awstest.Account{ID: acctB, Users: []awstest.User{{Name: "carol", Created: created}}})
	srv.AddCaller(akid, secret, acctA, "keywarden")
	return srv
}

// clients builds IAM and STS clients the way the brief says callers do by
// hand (no retries).
func clients(srv *awstest.Server, id, key, token string) (*iam.Client, *sts.Client) {
	cfg := aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider(id, key, token),
		RetryMaxAttempts: 1,
		HTTPClient:       srv.HTTPClient(),
	}
	ic := iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	sc := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	return ic, sc
}

func readReport(t *testing.T, ic *iam.Client) ([][]string, time.Time) {
	t.Helper()
	out, err := ic.GetCredentialReport(context.Background(), &iam.GetCredentialReportInput{})
	if err != nil {
		t.Fatalf("GetCredentialReport: %v", err)
	}
	if out.ReportFormat != iamtypes.ReportFormatTypeTextCsv {
		t.Errorf("ReportFormat = %q", out.ReportFormat)
	}
	rows, err := csv.NewReader(bytes.NewReader(out.Content)).ReadAll()
	if err != nil {
		t.Fatalf("parse report: %v\n%s", err, out.Content)
	}
	return rows, aws.ToTime(out.GeneratedTime)
}

func TestCredentialReport(t *testing.T) {
	srv := newServer(t)
	ic, _ := clients(srv, akid, secret, "")
	ctx := context.Background()

	_, err := ic.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	var notPresent *iamtypes.CredentialReportNotPresentException
	if !errors.As(err, &notPresent) {
		t.Fatalf("GetCredentialReport before generation: err = %v, want ReportNotPresent", err)
	}

	gen, err := ic.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
	if err != nil || gen.State != iamtypes.ReportStateTypeStarted || aws.ToString(gen.Description) == "" {
		t.Fatalf("first GenerateCredentialReport = %+v, %v; want STARTED with a description", gen, err)
	}
	_, err = ic.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	var inProgress *iamtypes.CredentialReportNotReadyException
	if !errors.As(err, &inProgress) {
		t.Fatalf("GetCredentialReport while STARTED: err = %v, want ReportInProgress", err)
	}
	gen, err = ic.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
	if err != nil || gen.State != iamtypes.ReportStateTypeComplete {
		t.Fatalf("second GenerateCredentialReport = %+v, %v; want COMPLETE", gen, err)
	}

	rows, generated := readReport(t, ic)
	if !generated.Equal(t0) {
		t.Errorf("GeneratedTime = %v, want %v", generated, t0)
	}
	want := [][]string{
		strings.Split("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated", ","),
		strings.Split("<root_account>,arn:aws:iam::111111111111:root,2022-06-01T09:00:00+00:00,not_supported,no_information,not_supported,not_supported,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A", ","),
		strings.Split("alice,arn:aws:iam::111111111111:user/alice,2022-06-01T09:00:00+00:00,true,2022-06-03T09:00:00+00:00,2022-06-01T10:00:00+00:00,N/A,false,true,2022-06-02T09:00:00+00:00,2022-07-01T09:00:00+00:00,eu-west-1,s3,false,2022-06-04T09:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A", ","),
		strings.Split("bob,arn:aws:iam::111111111111:user/eng/bob,2022-06-01T09:00:00+00:00,false,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A", ","),
		strings.Split("keywarden,arn:aws:iam::111111111111:user/keywarden,2022-06-01T09:00:00+00:00,false,N/A,N/A,N/A,false,true,2022-06-01T09:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A", ","),
	}
	if len(rows) != len(want) {
		t.Fatalf("report has %d rows, want %d:\n%v", len(rows), len(want), rows)
	}
	for i := range want {
		if strings.Join(rows[i], ",") != strings.Join(want[i], ",") {
			t.Errorf("row %d:\n got %s\nwant %s", i, strings.Join(rows[i], ","), strings.Join(want[i], ","))
		}
	}

	// Fresh report: COMPLETE at once. After 4 hours: a new one starts.
	clock := t0.Add(3 * time.Hour)
	srv.SetClock(func() time.Time { return clock })
	if gen, _ := ic.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{}); gen.State != iamtypes.ReportStateTypeComplete {
		t.Errorf("GenerateCredentialReport on a fresh report = %s, want COMPLETE", gen.State)
	}
	clock = t0.Add(4*time.Hour + time.Second)
	if gen, _ := ic.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{}); gen.State != iamtypes.ReportStateTypeStarted {
		t.Errorf("GenerateCredentialReport on a stale report = %s, want STARTED", gen.State)
	}
}

func TestReportIsASnapshot(t *testing.T) {
	srv := newServer(t)
	ic, _ := clients(srv, akid, secret, "")
	ctx := context.Background()
	for range 2 {
		if _, err := ic.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{}); err != nil {
			t.Fatal(err)
		}
	}
	used := t0.Add(time.Minute)
	srv.UseKey(acctA, akid, used, "iam", "us-east-1")
	srv.LoginAt(acctA, "alice", used)

	rows, _ := readReport(t, ic)
	kw := rows[4]
	if kw[0] != "keywarden" || kw[10] != "N/A" {
		t.Errorf("report row changed after generation: %v", kw)
	}
	if rows[2][4] != "2022-06-03T09:00:00+00:00" {
		t.Errorf("alice password_last_used = %s, want the value at generation", rows[2][4])
	}

	lu, err := ic.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(akid)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToTime(lu.AccessKeyLastUsed.LastUsedDate); !got.Equal(used) || aws.ToString(lu.UserName) != "keywarden" ||
		aws.ToString(lu.AccessKeyLastUsed.ServiceName) != "iam" || aws.ToString(lu.AccessKeyLastUsed.Region) != "us-east-1" {
		t.Errorf("GetAccessKeyLastUsed = %+v %+v", lu, lu.AccessKeyLastUsed)
	}
	lu, err = ic.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String("AKIAALICE2")})
	if err != nil {
		t.Fatal(err)
	}
	if lu.AccessKeyLastUsed.LastUsedDate != nil || aws.ToString(lu.AccessKeyLastUsed.ServiceName) != "N/A" || aws.ToString(lu.AccessKeyLastUsed.Region) != "N/A" {
		t.Errorf("never used key: %+v", lu.AccessKeyLastUsed)
	}
	u, err := ic.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToTime(u.User.PasswordLastUsed).Equal(used) {
		t.Errorf("GetUser PasswordLastUsed = %v, want %v", u.User.PasswordLastUsed, used)
	}
	if len(u.User.Tags) != 2 || aws.ToString(u.User.Tags[0].Key) != "env" {
		t.Errorf("GetUser Tags = %+v", u.User.Tags)
	}

	// Regenerating after 4 hours picks the new state up.
	srv.SetClock(func() time.Time { return t0.Add(5 * time.Hour) })
	for range 2 {
		if _, err := ic.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{}); err != nil {
			t.Fatal(err)
		}
	}
	rows, _ = readReport(t, ic)
	if got := strings.Join(rows[4][8:13], ","); got != "true,2022-06-01T09:00:00+00:00,2024-01-02T15:05:05+00:00,us-east-1,iam" {
		t.Errorf("regenerated key columns = %s", got)
	}
}

func seedMany(srv *awstest.Server, n int) {
	users := make([]awstest.User, n)
	for i := range users {
		users[i] = awstest.User{Name: fmt.Sprintf("user%04d", i), Created: created, Tags: map[string]string{"i": fmt.Sprint(i)}}
	}
	srv.AddAccount(awstest.Account{ID: acctA, Users: users})
}

func TestPagination(t *testing.T) {
	srv := newServer(t)
	seedMany(srv, 2500)
	ic, _ := clients(srv, akid, secret, "")
	ctx := context.Background()

	var names []string
	p := iam.NewListUsersPaginator(ic, &iam.ListUsersInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range out.Users {
			names = append(names, aws.ToString(u.UserName))
		}
	}
	if len(names) != 2500 || names[0] != "user0000" || names[2499] != "user2499" {
		t.Fatalf("ListUsers paginated %d users (%v...)", len(names), names[:min(3, len(names))])
	}
	if n := srv.CountCalls(acctA, "ListUsers"); n != 25 {
		t.Errorf("ListUsers calls = %d, want 25 (100 per page)", n)
	}

	var details []iamtypes.UserDetail
	ap := iam.NewGetAccountAuthorizationDetailsPaginator(ic, &iam.GetAccountAuthorizationDetailsInput{
		Filter:   []iamtypes.EntityType{iamtypes.EntityTypeUser},
		MaxItems: aws.Int32(1000),
	})
	for ap.HasMorePages() {
		out, err := ap.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		details = append(details, out.UserDetailList...)
	}
	if len(details) != 2500 {
		t.Fatalf("GetAccountAuthorizationDetails returned %d users", len(details))
	}
	d := details[1234]
	if aws.ToString(d.UserName) != "user1234" || aws.ToString(d.Arn) != "arn:aws:iam::111111111111:user/user1234" ||
		!aws.ToTime(d.CreateDate).Equal(created) || len(d.Tags) != 1 || aws.ToString(d.Tags[0].Value) != "1234" ||
		!strings.HasPrefix(aws.ToString(d.UserId), "AIDA") || aws.ToString(d.Path) != "/" {
		t.Errorf("user detail = %+v", d)
	}
	if n := srv.CountCalls(acctA, "GetAccountAuthorizationDetails"); n != 3 {
		t.Errorf("GetAccountAuthorizationDetails calls = %d, want 3", n)
	}
	calls := srv.Calls()
	last := calls[len(calls)-1]
	if last.Params.Get("Filter.member.1") != "User" || last.Params.Get("Marker") != "2000" || last.Service != "iam" || last.Account != acctA {
		t.Errorf("last call = %+v", last)
	}
}

func TestListAccessKeysAndNoSuchEntity(t *testing.T) {
	srv := newServer(t)
	ic, _ := clients(srv, akid, secret, "")
	ctx := context.Background()

	out, err := ic.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.AccessKeyMetadata) != 2 || out.AccessKeyMetadata[0].Status != iamtypes.StatusTypeInactive ||
		aws.ToString(out.AccessKeyMetadata[1].AccessKeyId) != "AKIAALICE1" || aws.ToString(out.AccessKeyMetadata[1].UserName) != "alice" {
		t.Errorf("ListAccessKeys = %+v", out.AccessKeyMetadata)
	}

	_, err = ic.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("nobody")})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) {
		t.Fatalf("ListAccessKeys(nobody) err = %v, want NoSuchEntityException", err)
	}
	_, err = ic.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String("bob")})
	if !errors.As(err, &nse) {
		t.Fatalf("GetLoginProfile(bob) err = %v, want NoSuchEntityException", err)
	}
	lp, err := ic.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String("alice")})
	if err != nil || !aws.ToTime(lp.LoginProfile.CreateDate).Equal(created.Add(time.Hour)) {
		t.Fatalf("GetLoginProfile(alice) = %+v, %v", lp, err)
	}
	_, err = ic.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String("AKIANOTHERE")})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDenied" {
		t.Fatalf("GetAccessKeyLastUsed(unknown) err = %v, want AccessDenied", err)
	}

	tags, err := ic.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String("alice")})
	if err != nil || len(tags.Tags) != 2 || aws.ToString(tags.Tags[1].Key) != "owner" || aws.ToString(tags.Tags[1].Value) != "team-a" {
		t.Fatalf("ListUserTags = %+v, %v", tags, err)
	}
	me, err := ic.GetUser(ctx, &iam.GetUserInput{})
	if err != nil || aws.ToString(me.User.UserName) != "keywarden" {
		t.Fatalf("GetUser() = %+v, %v", me, err)
	}
}

func TestMutations(t *testing.T) {
	srv := newServer(t)
	ic, _ := clients(srv, akid, secret, "")
	ctx := context.Background()

	if _, err := ic.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String("AKIAALICE1"), Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	if k, ok := srv.Key(acctA, "AKIAALICE1"); !ok || k.Status != "Inactive" {
		t.Errorf("after UpdateAccessKey: %+v %v", k, ok)
	}
	_, err := ic.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: aws.String("AKIAALICE1"), Status: iamtypes.StatusTypeActive})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) {
		t.Errorf("UpdateAccessKey of another user's key: err = %v, want NoSuchEntity", err)
	}

	if _, err := ic.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}
	if u, _ := srv.User(acctA, "alice"); u.LoginProfile != nil {
		t.Errorf("login profile still there after DeleteLoginProfile")
	}
	if _, err := ic.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: aws.String("alice")}); !errors.As(err, &nse) {
		t.Errorf("second DeleteLoginProfile: err = %v, want NoSuchEntity", err)
	}
	cp, err := ic.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("alice"), Password: aws.String("S3cret!pass"), PasswordResetRequired: true})
	if err != nil || !aws.ToTime(cp.LoginProfile.CreateDate).Equal(t0) || !cp.LoginProfile.PasswordResetRequired {
		t.Fatalf("CreateLoginProfile = %+v, %v", cp, err)
	}
	_, err = ic.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("alice"), Password: aws.String("x")})
	var exists *iamtypes.EntityAlreadyExistsException
	if !errors.As(err, &exists) {
		t.Errorf("second CreateLoginProfile: err = %v, want EntityAlreadyExists", err)
	}

	var updates []awstest.Call
	for _, c := range srv.Calls() {
		if c.Action == "UpdateAccessKey" {
			updates = append(updates, c)
		}
	}
	if len(updates) != 2 || updates[0].Params.Get("AccessKeyId") != "AKIAALICE1" || updates[0].Params.Get("Status") != "Inactive" ||
		updates[0].Params.Get("UserName") != "alice" || updates[0].Caller != "arn:aws:iam::111111111111:user/keywarden" || !updates[0].At.Equal(t0) {
		t.Errorf("recorded UpdateAccessKey calls = %+v", updates)
	}
	if n := srv.CountCalls("", ""); n != 6 {
		t.Errorf("CountCalls = %d, want 6", n)
	}
	srv.ResetCalls()
	if n := srv.CountCalls("", ""); n != 0 {
		t.Errorf("CountCalls after reset = %d", n)
	}

	// Deactivating the caller's own key locks it out.
	if _, err := ic.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{AccessKeyId: aws.String(akid), Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	_, err = ic.GetUser(ctx, &iam.GetUserInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidClientTokenId" {
		t.Errorf("call with an inactive key: err = %v", err)
	}
}

func TestAssumeRoleSwitchesAccount(t *testing.T) {
	srv := newServer(t)
	_, sc := clients(srv, akid, secret, "")
	ctx := context.Background()

	id, err := sc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != acctA || aws.ToString(id.Arn) != "arn:aws:iam::111111111111:user/keywarden" {
		t.Fatalf("GetCallerIdentity = %+v, %v", id, err)
	}
	roleARN := "arn:aws:iam::" + acctB + ":role/KeywardenAudit"
	ar, err := sc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("keywarden"), ExternalId: aws.String("ext-42")})
	if err != nil {
		t.Fatal(err)
	}
	c := ar.Credentials
	if !strings.HasPrefix(aws.ToString(c.AccessKeyId), "ASIA") || aws.ToString(c.SecretAccessKey) == "" || aws.ToString(c.SessionToken) == "" ||
		aws.ToTime(c.Expiration).Before(time.Now().Add(59*time.Minute)) {
		t.Errorf("credentials = %+v", c)
	}
	if aws.ToString(ar.AssumedRoleUser.Arn) != "arn:aws:sts::222222222222:assumed-role/KeywardenAudit/keywarden" {
		t.Errorf("AssumedRoleUser = %+v", ar.AssumedRoleUser)
	}
	calls := srv.Calls()
	if last := calls[len(calls)-1]; last.Action != "AssumeRole" || last.Service != "sts" || last.Account != acctB || last.Params.Get("ExternalId") != "ext-42" {
		t.Errorf("AssumeRole call = %+v", last)
	}

	ic2, sc2 := clients(srv, aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	id, err = sc2.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != acctB || aws.ToString(id.Arn) != aws.ToString(ar.AssumedRoleUser.Arn) {
		t.Fatalf("GetCallerIdentity as role = %+v, %v", id, err)
	}
	users, err := ic2.ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil || len(users.Users) != 1 || aws.ToString(users.Users[0].UserName) != "carol" {
		t.Fatalf("ListUsers as role = %+v, %v", users, err)
	}
	if n := srv.CountCalls(acctB, "ListUsers"); n != 1 {
		t.Errorf("CountCalls(B, ListUsers) = %d", n)
	}

	// Wrong session token, unknown key, unknown account.
	ic3, _ := clients(srv, aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), "forged")
	_, err = ic3.ListUsers(ctx, &iam.ListUsersInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidClientTokenId" {
		t.Errorf("forged token: err = %v", err)
	}
	_, sc4 := clients(srv, "AKIAUNKNOWN", "x", "")
	if _, err = sc4.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidClientTokenId" {
		t.Errorf("unknown key: err = %v", err)
	}
	_, err = sc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::333333333333:role/X"), RoleSessionName: aws.String("kw")})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDenied" {
		t.Errorf("AssumeRole into unknown account: err = %v", err)
	}
}

func TestFaults(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()

	// Throttling twice: the SDK's standard retryer retries and succeeds.
	cfg := srv.Config(akid, secret)
	cfg.RetryMaxAttempts = 3
	ic := iam.NewFromConfig(cfg)
	srv.Inject(awstest.Fault{Account: acctA, Action: "ListUsers", Code: "Throttling", Times: 2})
	if _, err := ic.ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
		t.Fatalf("ListUsers with 2 throttles: %v", err)
	}
	if n := srv.CountCalls(acctA, "ListUsers"); n != 3 {
		t.Errorf("ListUsers calls = %d, want 3 (2 throttled + 1)", n)
	}
	if _, err := ic.ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
		t.Fatalf("fault should be spent: %v", err)
	}

	// AccessDenied is not retried and surfaces as an APIError.
	srv.Inject(awstest.Fault{Action: "GetUser", Code: "AccessDenied"})
	srv.ResetCalls()
	_, err := ic.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDenied" {
		t.Fatalf("GetUser err = %v, want AccessDenied", err)
	}
	if n := srv.CountCalls("", "GetUser"); n != 1 {
		t.Errorf("GetUser calls = %d, want 1", n)
	}
	// Other accounts and actions are untouched; faults for other accounts too.
	srv.Inject(awstest.Fault{Account: acctB, Code: "ServiceFailure"})
	if _, err := ic.ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
		t.Errorf("ListUsers: %v", err)
	}
	srv.ClearFaults()
	if _, err := ic.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")}); err != nil {
		t.Errorf("GetUser after ClearFaults: %v", err)
	}
	// Codes the operation declares come back typed.
	srv.Inject(awstest.Fault{Code: "LimitExceeded", Times: 1})
	_, err = ic.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String("AKIAALICE1"), Status: iamtypes.StatusTypeInactive})
	var limit *iamtypes.LimitExceededException
	if !errors.As(err, &limit) {
		t.Errorf("LimitExceeded fault: err = %v", err)
	}
	if k, _ := srv.Key(acctA, "AKIAALICE1"); k.Status != "Active" {
		t.Errorf("a faulted UpdateAccessKey changed the key")
	}
	// ServiceFailure is a 500: retried, and answered for as long as it lasts.
	srv.Inject(awstest.Fault{Account: acctA, Code: "ServiceFailure"})
	srv.ResetCalls()
	_, err = ic.ListUsers(ctx, &iam.ListUsersInput{})
	var sf *iamtypes.ServiceFailureException
	if !errors.As(err, &sf) || srv.CountCalls(acctA, "ListUsers") != 3 {
		t.Errorf("ServiceFailure: err = %v after %d calls", err, srv.CountCalls(acctA, "ListUsers"))
	}
	srv.ClearFaults()
}

func TestLatencyAndConcurrency(t *testing.T) {
	srv := newServer(t)
	srv.SetLatency(50 * time.Millisecond)
	ic := iam.NewFromConfig(srv.Config(akid, secret))
	ctx := context.Background()

	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := ic.ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("4 calls took %v, want latency >= 50ms", d)
	}
	srv.SetLatency(0)
	srv.Inject(awstest.Fault{Action: "GetUser", Latency: 30 * time.Millisecond, Times: 1})
	for _, want := range []time.Duration{30 * time.Millisecond, 0} {
		start = time.Now()
		if _, err := ic.GetUser(ctx, &iam.GetUserInput{}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); (want > 0 && d < want) || (want == 0 && d >= 30*time.Millisecond) {
			t.Errorf("GetUser took %v with latency fault %v", d, want)
		}
	}
	if n := srv.MaxConcurrent(acctA); n < 2 {
		t.Errorf("MaxConcurrent(A) = %d, want several in flight", n)
	}
	if srv.MaxConcurrent("") < srv.MaxConcurrent(acctA) || srv.MaxConcurrent(acctB) != 0 {
		t.Errorf("MaxConcurrent overall %d, B %d", srv.MaxConcurrent(""), srv.MaxConcurrent(acctB))
	}
}

// TestAssumeRoleProvider is the way production code assumes roles: the
// SDK's stscreds provider behind a credentials cache, on srv.Config.
func TestAssumeRoleProvider(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	base := srv.Config(akid, secret)
	roleARN := "arn:aws:iam::" + acctB + ":role/Audit"
	cfg := base.Copy()
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.ExternalID = aws.String("ext-1")
	}))
	ic := iam.NewFromConfig(cfg)
	for range 3 {
		out, err := ic.ListUsers(ctx, &iam.ListUsersInput{})
		if err != nil || len(out.Users) != 1 || aws.ToString(out.Users[0].UserName) != "carol" {
			t.Fatalf("ListUsers through assumed role = %+v, %v", out, err)
		}
	}
	if n := srv.CountCalls(acctB, "AssumeRole"); n != 1 {
		t.Errorf("AssumeRole calls = %d, want 1 (credentials cached although the server clock is in the past)", n)
	}
	calls := srv.Calls()
	if c := calls[0]; c.Action != "AssumeRole" || c.Params.Get("ExternalId") != "ext-1" || c.Params.Get("RoleArn") != roleARN || c.Caller != "arn:aws:iam::111111111111:user/keywarden" {
		t.Errorf("first call = %+v", c)
	}
	if c := calls[1]; c.Caller != "arn:aws:sts::222222222222:assumed-role/Audit/"+calls[0].Params.Get("RoleSessionName") {
		t.Errorf("caller after assume = %s", c.Caller)
	}

	// A clock in the future dates the expiry.
	future := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	srv.SetClock(func() time.Time { return future })
	out, err := sts.NewFromConfig(base).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(900)})
	if err != nil || !aws.ToTime(out.Credentials.Expiration).Equal(future.Add(15*time.Minute)) {
		t.Errorf("AssumeRole with future clock = %+v, %v", out, err)
	}
}
