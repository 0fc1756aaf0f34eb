package main

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/keywarden/keywarden/internal/awstest"
)

// asOf is the benchmark's clock: the server's and the scan's --as-of.
var asOf = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const (
	mainAKID   = "AKIAKWBENCHMAIN00001"
	mainSecret = "kwbench-secret"
)

func accountID(i int) string { return fmt.Sprintf("%012d", 100000000000+i) }

func daysAgo(d int) time.Time { return asOf.Add(-time.Duration(d) * 24 * time.Hour) }

// seedStats are what one seeded account should cost and yield.
type seedStats struct {
	users, keys                 int
	usersWithFindings, credsBad int
}

// seedAccount builds account i: n users, a realistic mix (0–2 keys, half
// with a console password, some tags), one user in ten with stale
// credentials unless healthy (then none). Deterministic in (i, n).
func seedAccount(i, n int, healthy bool) (awstest.Account, seedStats) {
	rng := rand.New(rand.NewPCG(uint64(i), uint64(n)))
	a := awstest.Account{ID: accountID(i), Users: make([]awstest.User, n)}
	st := seedStats{users: n}
	for j := range a.Users {
		u := &a.Users[j]
		u.Name = fmt.Sprintf("user-%06d", j)
		u.Created = daysAgo(200 + rng.IntN(1300))
		switch r := rng.IntN(100); {
		case r < 10:
			u.Tags = map[string]string{"Slack": "U0123456", "Team": "platform"}
		case r < 13:
			u.Tags = map[string]string{"KeyAutoExpire": "false"}
		}
		nkeys := 0
		switch r := rng.IntN(10); {
		case r < 5:
			nkeys = 1
		case r < 7:
			nkeys = 2
		}
		pw := rng.IntN(2) == 0
		stale := j%10 == 0 && !healthy
		staleKey, stalePw := false, false
		if stale {
			switch r := rng.IntN(10); {
			case r < 5 || (!pw && nkeys > 0):
				staleKey = true
			case r < 8 || nkeys == 0:
				stalePw = true
			default:
				staleKey, stalePw = true, true
			}
			if staleKey && nkeys == 0 {
				nkeys = 1
			}
			if stalePw {
				pw = true
			}
		}
		for k := range nkeys {
			key := awstest.Key{
				ID:      fmt.Sprintf("AKIA%05d%09d%02d", i, j, k),
				Created: daysAgo(1 + rng.IntN(150)),
			}
			used := daysAgo(rng.IntN(60))
			key.LastUsed, key.LastUsedService, key.LastUsedRegion = &used, "s3", "us-east-1"
			if staleKey && k == 0 {
				key.Created = daysAgo(400 + rng.IntN(400))
				old := daysAgo(120 + rng.IntN(200))
				key.LastUsed = &old
			}
			if k == 1 && rng.IntN(10) == 0 {
				key.Status = "Inactive"
			}
			u.Keys = append(u.Keys, key)
		}
		st.keys += nkeys
		if pw {
			u.LoginProfile = &awstest.LoginProfile{Created: daysAgo(150 + rng.IntN(50))}
			used := daysAgo(rng.IntN(60))
			if stalePw {
				used = daysAgo(100 + rng.IntN(300))
			}
			u.PasswordLastUsed = &used
		}
		if stale {
			st.usersWithFindings++
			if staleKey {
				st.credsBad++
			}
			if stalePw {
				st.credsBad++
			}
		}
	}
	return a, st
}

// benchConfig enables the three checks; accounts come from Organizations.
const benchConfig = `{
  "aws": {"region": "us-east-1", "organization": {"discover": true}},
  "user_inactivekeys": {"enabled": true, "inactive_criteria_days": 90, "warning_days": 10},
  "user_keysrotation": {"enabled": true, "rotation_criteria_days": 180, "warning_days": 10},
  "user_inactivepasswords": {"enabled": true, "inactive_criteria_days": 90, "warning_days": 10}
}`
