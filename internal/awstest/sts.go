package awstest

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

func (s *Server) getCallerIdentity(p *principal) (any, *apiError) {
	userID := uniqueID("AIDA", p.account, p.user)
	if p.role != "" {
		userID = uniqueID("AROA", p.account, p.role) + ":" + p.session
	}
	return struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	}{s.principalARN(p), userID, p.account}, nil
}

func (s *Server) assumeRole(p *principal, form url.Values) (any, *apiError) {
	roleARN := form.Get("RoleArn")
	session := form.Get("RoleSessionName")
	accountID, role, ok := parseRoleARN(roleARN)
	if !ok {
		return nil, newError(http.StatusBadRequest, "ValidationError", "%s is invalid", roleARN)
	}
	if len(session) < 2 || len(session) > 64 {
		return nil, newError(http.StatusBadRequest, "ValidationError",
			"1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64", session)
	}
	if s.accounts[accountID] == nil {
		return nil, newError(http.StatusForbidden, "AccessDenied",
			"User: %s is not authorized to perform: sts:AssumeRole on resource: %s", s.principalARN(p), roleARN)
	}
	duration := time.Hour
	if v := form.Get("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 900 || n > 43200 {
			return nil, newError(http.StatusBadRequest, "ValidationError",
				"1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", v)
		}
		duration = time.Duration(n) * time.Second
	}
	np := &principal{
		akid:    "ASIA" + randomString(16),
		secret:  randomString(40),
		token:   base64.StdEncoding.EncodeToString(randomBytes(96)),
		account: accountID,
		role:    role,
		session: session,
	}
	s.principals[np.akid] = np
	type credentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	}
	type assumedRoleUser struct {
		AssumedRoleID string `xml:"AssumedRoleId"`
		Arn           string `xml:"Arn"`
	}
	return struct {
		Credentials     credentials     `xml:"Credentials"`
		AssumedRoleUser assumedRoleUser `xml:"AssumedRoleUser"`
	}{
		credentials{np.akid, np.secret, np.token, isoTime(expiration(s.clock(), duration))},
		assumedRoleUser{uniqueID("AROA", accountID, role) + ":" + session, s.principalARN(np)},
	}, nil
}

const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}

func randomString(n int) string {
	b := randomBytes(n)
	for i := range b {
		b[i] = keyAlphabet[int(b[i])%len(keyAlphabet)]
	}
	return string(b)
}

// expiration is when credentials issued now for d expire: by the server
// clock, but never before real time plus d. The SDK's credential cache
// judges expiry by the real clock, so credentials dated by a clock set in
// the past would look expired at once and be re-fetched before every call.
func expiration(now time.Time, d time.Duration) time.Time {
	return maxTime(now.Add(d), time.Now().Add(d))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
