package inventory

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchReport generates a realistic credential report of n users plus the
// root row: 0–2 keys (some inactive, some never used), passwords for about
// half (some never used, some removed with password_last_used left behind),
// IAM paths, N/A everywhere IAM writes it.
func benchReport(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	regions := []string{"us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"}
	services := []string{"s3", "sts", "ec2", "dynamodb", "lambda", "sqs", "iam", "cloudformation"}
	paths := []string{"", "", "", "engineering/", "service/", "ci/"}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	const layout = "2006-01-02T15:04:05+00:00"
	date := func(from time.Time) time.Time {
		span := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC).Sub(from)
		return from.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Second)
	}
	var b bytes.Buffer
	b.WriteString("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n")
	b.WriteString("<root_account>,arn:aws:iam::123456789012:root,2024-01-01T00:00:00+00:00,not_supported,2026-10-02T08:14:55+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n")
	for i := range n {
		name := fmt.Sprintf("user-%06d", i)
		created := date(base)
		fmt.Fprintf(&b, "%s,arn:aws:iam::123456789012:user/%s%s,%s,", name, paths[rng.IntN(len(paths))], name, created.Format(layout))
		switch p := rng.IntN(10); {
		case p < 4: // password, used
			changed := date(created)
			fmt.Fprintf(&b, "true,%s,%s,N/A,%t,", date(changed).Format(layout), changed.Format(layout), rng.IntN(2) == 0)
		case p == 4: // password, never used
			fmt.Fprintf(&b, "true,no_information,%s,N/A,false,", date(created).Format(layout))
		case p == 5: // login profile removed, last use left behind
			fmt.Fprintf(&b, "false,%s,N/A,N/A,false,", date(created).Format(layout))
		default:
			b.WriteString("false,N/A,N/A,N/A,false,")
		}
		keys := 0
		switch k := rng.IntN(10); {
		case k < 5:
			keys = 1
		case k < 7:
			keys = 2
		}
		for slot := range 2 {
			if slot >= keys {
				b.WriteString("false,N/A,N/A,N/A,N/A,")
				continue
			}
			rotated := date(created)
			fmt.Fprintf(&b, "%t,%s,", rng.IntN(10) != 0, rotated.Format(layout))
			if rng.IntN(7) == 0 {
				b.WriteString("N/A,N/A,N/A,")
			} else {
				fmt.Fprintf(&b, "%s,%s,%s,", date(rotated).Format(layout), regions[rng.IntN(len(regions))], services[rng.IntN(len(services))])
			}
		}
		b.WriteString("false,N/A,false,N/A\n")
	}
	return b.Bytes()
}

// BenchmarkParseCredentialReport parses from an io.Reader (a copy of the
// report first); BenchmarkParseCredentialReportBytes in place, as
// ReportSource and FileSource do.
func BenchmarkParseCredentialReport(b *testing.B) {
	benchParse(b, func(data []byte) (*CredentialReport, error) {
		return ParseCredentialReport(bytes.NewReader(data), "bench.csv")
	})
}

func BenchmarkParseCredentialReportBytes(b *testing.B) {
	benchParse(b, func(data []byte) (*CredentialReport, error) {
		return ParseCredentialReportBytes(data, "bench.csv")
	})
}

func benchParse(b *testing.B, parse func([]byte) (*CredentialReport, error)) {
	const users = 100_000
	data := benchReport(users)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	iterations := 0
	for b.Loop() {
		rep, err := parse(data)
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Users) != users {
			b.Fatalf("%d users, want %d", len(rep.Users), users)
		}
		iterations++
	}
	b.ReportMetric(float64(users*iterations)/b.Elapsed().Seconds(), "users/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(users*iterations), "ns/user")
}
