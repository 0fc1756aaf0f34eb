package awstest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keywarden/keywarden/internal/awstest"
)

// The bad answers are what the SDK lets through: these tests pin down what a
// client sees, so that keywarden's own checks are tested against the real
// holes.
func TestFaultModes(t *testing.T) {
	ctx := context.Background()

	t.Run("truncated page without a marker", func(t *testing.T) {
		srv := newServer(t)
		ic, _ := clients(srv, akid, secret, "")
		srv.Inject(awstest.Fault{Action: "ListUsers", Mode: awstest.ModeTruncated, Times: 1})
		out, err := ic.ListUsers(ctx, &iam.ListUsersInput{MaxItems: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		if !out.IsTruncated || out.Marker != nil || len(out.Users) != 1 {
			t.Fatalf("want a truncated first page without marker, got truncated=%v marker=%v users=%d", out.IsTruncated, out.Marker, len(out.Users))
		}
		// The SDK's paginator stops silently on it: one page, no error.
		p := iam.NewListUsersPaginator(ic, &iam.ListUsersInput{MaxItems: aws.Int32(1)})
		srv.Inject(awstest.Fault{Action: "ListUsers", Mode: awstest.ModeTruncated, Times: 1})
		pages := 0
		for p.HasMorePages() {
			if _, err := p.NextPage(ctx); err != nil {
				t.Fatal(err)
			}
			pages++
		}
		if pages != 1 {
			t.Fatalf("paginator read %d pages, want the SDK's silent stop after 1", pages)
		}
		// Times: 1 — the next answer is whole again.
		out, err = ic.ListUsers(ctx, &iam.ListUsersInput{})
		if err != nil || out.IsTruncated || len(out.Users) != 3 {
			t.Fatalf("after the fault: %v truncated=%v users=%d", err, out.IsTruncated, len(out.Users))
		}
	})

	t.Run("empty body reads as an empty result", func(t *testing.T) {
		srv := newServer(t)
		ic, _ := clients(srv, akid, secret, "")
		srv.Inject(awstest.Fault{Action: "GetUser", Mode: awstest.ModeEmptyBody})
		out, err := ic.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")})
		if err != nil {
			t.Fatal(err)
		}
		if out.User != nil {
			t.Fatalf("User = %+v, want nil from an empty body", out.User)
		}
	})

	t.Run("missing element", func(t *testing.T) {
		srv := newServer(t)
		ic, _ := clients(srv, akid, secret, "")
		srv.Inject(awstest.Fault{Action: "GetLoginProfile", Mode: awstest.ModeMissingElement})
		out, err := ic.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String("alice")})
		if err != nil {
			t.Fatal(err)
		}
		if out.LoginProfile != nil {
			t.Fatalf("LoginProfile = %+v, want nil", out.LoginProfile)
		}
	})

	t.Run("malformed body", func(t *testing.T) {
		srv := newServer(t)
		ic, _ := clients(srv, akid, secret, "")
		srv.Inject(awstest.Fault{Action: "ListAccessKeys", Mode: awstest.ModeMalformedBody})
		_, err := ic.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("alice")})
		if err == nil {
			t.Fatal("a body cut in half decoded without error")
		}
	})

	t.Run("a write whose answer is lost still takes effect", func(t *testing.T) {
		srv := newServer(t)
		ic, _ := clients(srv, akid, secret, "")
		srv.Inject(awstest.Fault{Action: "UpdateAccessKey", Mode: awstest.ModeHang})
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := ic.UpdateAccessKey(cctx, &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String("AKIAALICE1"), Status: iamtypes.StatusTypeInactive})
		if err == nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the deadline", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("hung call returned after %s", d)
		}
		if k, _ := srv.Key(acctA, "AKIAALICE1"); k.Status != "Inactive" {
			t.Fatalf("key status %s, want Inactive: the hung write took effect", k.Status)
		}
	})

	t.Run("latency holds a write back before it takes effect", func(t *testing.T) {
		srv := newServer(t)
		ic, _ := clients(srv, akid, secret, "")
		srv.Inject(awstest.Fault{Action: "UpdateAccessKey", Latency: time.Hour})
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, err := ic.UpdateAccessKey(cctx, &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String("AKIAALICE1"), Status: iamtypes.StatusTypeInactive})
		if err == nil {
			t.Fatal("no error")
		}
		if k, _ := srv.Key(acctA, "AKIAALICE1"); k.Status != "Active" {
			t.Fatalf("key status %s, want Active", k.Status)
		}
	})
}

func TestStaleReads(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t)
	ic, _ := clients(srv, akid, secret, "")
	srv.SetStaleReads(acctA, 2)
	if _, err := ic.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String("AKIAALICE1"), Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	status := func() string {
		out, err := ic.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("alice")})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range out.AccessKeyMetadata {
			if aws.ToString(k.AccessKeyId) == "AKIAALICE1" {
				return string(k.Status)
			}
		}
		return "missing"
	}
	for i, want := range []string{"Active", "Active", "Inactive", "Inactive"} {
		if got := status(); got != want {
			t.Fatalf("read %d after the write: %s, want %s", i+1, got, want)
		}
	}
	// The live state was right all along.
	if k, _ := srv.Key(acctA, "AKIAALICE1"); k.Status != "Inactive" {
		t.Fatalf("live %s", k.Status)
	}

	// A deleted login profile is still there for the next reads.
	if _, err := ic.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := ic.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String("alice")}); err != nil {
			t.Fatalf("stale read %d: %v", i+1, err)
		}
	}
	if _, err := ic.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String("alice")}); err == nil {
		t.Fatal("login profile still there after the stale reads")
	}
}

func TestCachedReportAndDate(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t)
	ic, _ := clients(srv, akid, secret, "")
	generated := t0.Add(-2 * time.Hour)
	srv.CacheReport(acctA, generated)
	srv.DeleteLoginProfile(acctA, "alice")
	srv.DeleteKey(acctA, "AKIAALICE1")

	gen, err := ic.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
	if err != nil || gen.State != iamtypes.ReportStateTypeComplete {
		t.Fatalf("generate: %v %v, want COMPLETE from the cached report", err, gen)
	}
	if st, ok := awsmiddleware.GetServerTime(gen.ResultMetadata); !ok || !st.Equal(t0) {
		t.Fatalf("server time from the Date header: %v %v, want %v", st, ok, t0)
	}
	out, err := ic.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToTime(out.GeneratedTime).Equal(generated) {
		t.Fatalf("GeneratedTime %v, want %v", out.GeneratedTime, generated)
	}
	csv := string(out.Content)
	// The report still shows alice's password and both keys.
	for _, line := range strings.Split(csv, "\n") {
		if strings.HasPrefix(line, "alice,") {
			f := strings.Split(line, ",")
			if f[3] != "true" || f[8] != "true" {
				t.Fatalf("cached row %q: want password_enabled and key 1 active as before the changes", line)
			}
		}
	}
	// Live state changed.
	if u, _ := srv.User(acctA, "alice"); u.LoginProfile != nil || len(u.Keys) != 1 {
		t.Fatalf("live alice: %+v", u)
	}
	// Four hours later the report is regenerated.
	srv.SetClock(func() time.Time { return generated.Add(4*time.Hour + time.Second) })
	gen, err = ic.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
	if err != nil || gen.State != iamtypes.ReportStateTypeStarted {
		t.Fatalf("generate after 4h: %v %v, want STARTED", err, gen)
	}

	srv.DeleteUser(acctA, "bob")
	if _, ok := srv.User(acctA, "bob"); ok {
		t.Fatal("bob not deleted")
	}
	srv.SetKeyStatus(acctA, "AKIAALICE2", "Active")
	if k, _ := srv.Key(acctA, "AKIAALICE2"); k.Status != "Active" {
		t.Fatal("status not set")
	}
}
