// Package awstest is a test-only AWS server on loopback. It speaks the real
// wire protocols of IAM and STS (AWS Query: form-encoded requests, XML
// responses in the documented shapes), so tests drive it with the real
// aws-sdk-go-v2 clients pointed at it through BaseEndpoint:
//
//	srv := awstest.New()
//	defer srv.Close()
//	srv.AddAccount(awstest.Account{ID: "111111111111", Users: ...})
//	srv.AddCaller("AKIDMAIN", "secret", "111111111111", "keywarden")
//	client := iam.NewFromConfig(srv.Config("AKIDMAIN", "secret"))
//
// Build clients with Config (or at least with HTTPClient, see there): the
// SDK's default HTTP client races against a loopback server.
//
// The account a request is for comes from the access key ID in its SigV4
// Authorization header (signatures and secrets are not verified; session
// tokens of assumed-role credentials are). Roles assumed through its STS
// hand out temporary credentials that see the role's account; any role name
// in a seeded account can be assumed. Every request is recorded, faulted
// ones included; latency and errors can be injected. Requests do not update
// key last-used data: use UseKey.
package awstest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Server is a running fake AWS endpoint. It is safe for concurrent use.
type Server struct {
	// URL is the base endpoint, e.g. http://127.0.0.1:41234.
	URL string

	ts   *httptest.Server
	done chan struct{}
	once sync.Once

	mu          sync.Mutex
	clock       func() time.Time
	accounts    map[string]*account
	principals  map[string]*principal // by access key ID
	calls       []Call
	faults      []*Fault
	latency     time.Duration
	inflight    map[string]int
	maxInflight map[string]int
	seq         int64
	sns         *snsState                  // sns.go
	ssm         map[string]string          // ssm.go: parameter name -> value
	hub         map[string]json.RawMessage // securityhub.go: imported findings by Id
	org         *organization
	staleReads  map[string]int    // faults.go: account -> reads that lag a write
	stale       map[string]*stale // faults.go: account+user -> state before the write
	// activeAccounts is how many accounts have a request in flight.
	activeAccounts, maxActiveAccounts int
}

// Account is an AWS account to seed.
type Account struct {
	ID string
	// Created is when the account (its root user) was created; it is the
	// root row's user_creation_time in the credential report. Zero means
	// the earliest user creation (or the report time when there are none).
	Created time.Time
	Users   []User
}

// User is an IAM user to seed.
type User struct {
	Name string
	// Path defaults to "/".
	Path string
	// Created defaults to the server clock at AddAccount.
	Created time.Time
	Tags    map[string]string
	// LoginProfile is the console password; nil means none.
	LoginProfile *LoginProfile
	// PasswordLastUsed is the last console login; nil means never.
	PasswordLastUsed *time.Time
	Keys             []Key
}

// LoginProfile is a user's console password.
type LoginProfile struct {
	Created time.Time
	// PasswordLastChanged is the credential report's password_last_changed;
	// zero means Created.
	PasswordLastChanged   time.Time
	PasswordResetRequired bool
}

// Key is an access key of a user.
type Key struct {
	ID     string
	Secret string
	// Status is "Active" or "Inactive"; empty means "Active".
	Status string
	// Created defaults to the user's Created.
	Created         time.Time
	LastUsed        *time.Time
	LastUsedService string
	LastUsedRegion  string
}

// Call is one recorded request.
type Call struct {
	Action string
	// Service is "iam" or "sts".
	Service string
	// Account is the account the request is for: the caller's account, or
	// for AssumeRole the account of the role being assumed. Empty when the
	// caller is unknown.
	Account string
	// Caller is the ARN of the principal that signed the request (empty when
	// unknown).
	Caller string
	// Params are the request's form parameters, Action and Version included.
	Params url.Values
	// At is the server clock when the request arrived.
	At time.Time
}

// Fault makes matching requests fail (or just slow down).
type Fault struct {
	// Account and Action select requests; "" matches any. Account matches
	// Call.Account (for AssumeRole: the target account).
	Account, Action string
	// Code is the AWS error code to answer with, e.g. "Throttling",
	// "AccessDenied", "LimitExceeded", "ServiceFailure". Empty means no
	// error: the fault only adds Latency.
	Code string
	// Message defaults to a generic text.
	Message string
	// Status is the HTTP status; default 400 (403 for AccessDenied, 500 for
	// ServiceFailure).
	Status int
	// Times is how many requests the fault applies to; 0 means forever.
	Times int
	// Latency is added before answering matching requests, faulted or not
	// (before the action takes effect).
	Latency time.Duration
	// Mode answers matching requests wrong in other ways than an AWS error
	// (see FaultMode); Code is ignored unless Mode is ModeError. The first
	// matching fault with a Mode applies.
	Mode FaultMode
}

type account struct {
	id      string
	created time.Time
	users   []*User
	byName  map[string]*User
	report  *report
	// keys indexes the keys by ID; built on a lookup that misses, and
	// every hit is checked against the users (see findKey).
	keys map[string]keyRef
}

type keyRef struct {
	u *User
	i int
}

type report struct {
	generated time.Time
	complete  bool
	csv       []byte
}

// principal is an identity that can sign requests.
type principal struct {
	akid, secret, token string
	account             string
	user                string // IAM user name, for user principals
	role, session       string // for assumed-role principals
}

// New starts a server on loopback. Close it when done.
func New() *Server {
	s := &Server{
		done:        make(chan struct{}),
		clock:       time.Now,
		accounts:    map[string]*account{},
		principals:  map[string]*principal{},
		inflight:    map[string]int{},
		maxInflight: map[string]int{},
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.ts.URL
	return s
}

// Close stops the server; requests sleeping on injected latency return at once.
func (s *Server) Close() {
	s.once.Do(func() { close(s.done) })
	s.ts.Close()
}

// SetClock sets the server clock (default time.Now). It dates the
// credential report, decides its freshness (4 hours), sets AssumeRole
// expirations (never earlier than real time plus the duration, since the
// SDK's credential cache uses the real clock), CreateLoginProfile dates and
// Call.At.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now == nil {
		now = time.Now
	}
	s.clock = now
}

// Config returns an aws.Config for the given credentials pointed at the
// server: region us-east-1, static credentials, BaseEndpoint set, and a
// standard retryer (3 attempts) with millisecond backoff and no retry quota
// so that retries of injected faults keep tests fast.
// Use it as iam.NewFromConfig(srv.Config(akid, secret)).
func (s *Server) Config(akid, secret string) aws.Config {
	endpoint := s.URL
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(akid, secret, ""),
		BaseEndpoint: &endpoint,
		HTTPClient:   s.HTTPClient(),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) {
					return time.Millisecond, nil
				})
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

// HTTPClient returns the HTTP client SDK clients should use against the
// server (Config sets it). It buffers each request body in memory before
// sending it. The SDK's own client sends a request body through a wrapper
// (smithy-go's safe read closer) that makes net/http fail the request write
// with io.EOF when the response arrives before the transport's final read
// of the body — which a loopback server answering in microseconds often
// does — and the transport then closes the connection while the response
// body is being read ("use of closed network connection"). Such a request
// fails, or is retried and recorded twice.
func (s *Server) HTTPClient() aws.HTTPClient {
	return bufferingClient{s.ts.Client()}
}

type bufferingClient struct{ c *http.Client }

func (b bufferingClient) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return b.c.Do(req)
	}
	data, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.ContentLength = int64(len(data))
	r.Body = io.NopCloser(bytes.NewReader(data))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	return b.c.Do(r)
}

// AddAccount seeds an account, replacing any account with the same ID (and
// its credential report). The users are copied.
func (s *Server) AddAccount(a Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	acct := &account{id: a.ID, created: a.Created, byName: map[string]*User{}}
	for _, u := range a.Users {
		c := copyUser(u)
		if c.Path == "" {
			c.Path = "/"
		}
		if c.Created.IsZero() {
			c.Created = now
		}
		for i := range c.Keys {
			if c.Keys[i].Status == "" {
				c.Keys[i].Status = "Active"
			}
			if c.Keys[i].Created.IsZero() {
				c.Keys[i].Created = c.Created
			}
		}
		if old, ok := acct.byName[c.Name]; ok {
			*old = *c
			continue
		}
		acct.users = append(acct.users, c)
		acct.byName[c.Name] = c
	}
	s.accounts[a.ID] = acct
}

// AddCaller registers long-term credentials: requests signed with
// accessKeyID act as user userName of account accountID. The user need not
// be seeded; when the key is seeded in the account and made Inactive (e.g.
// by UpdateAccessKey), requests with it fail with InvalidClientTokenId.
func (s *Server) AddCaller(accessKeyID, secret, accountID, userName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.principals[accessKeyID] = &principal{akid: accessKeyID, secret: secret, account: accountID, user: userName}
}

// UseKey records a use of an access key in the live state, as AWS does when
// the key signs a request. A generated credential report does not change.
func (s *Server) UseKey(accountID, keyID string, at time.Time, service, region string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, k := s.findKey(accountID, keyID); k != nil {
		t := at
		k.LastUsed = &t
		k.LastUsedService = service
		k.LastUsedRegion = region
	}
}

// LoginAt records a console login of a user in the live state.
func (s *Server) LoginAt(accountID, user string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[accountID]; a != nil {
		if u := a.byName[user]; u != nil {
			t := at
			u.PasswordLastUsed = &t
		}
	}
}

// Key returns the live state of an access key.
func (s *Server) Key(accountID, keyID string) (Key, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, k := s.findKey(accountID, keyID); k != nil {
		return copyKey(*k), true
	}
	return Key{}, false
}

// User returns the live state of a user.
func (s *Server) User(accountID, name string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[accountID]; a != nil {
		if u := a.byName[name]; u != nil {
			return *copyUser(*u), true
		}
	}
	return User{}, false
}

// Calls returns the recorded requests, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		c.Params = cloneValues(c.Params)
		out[i] = c
	}
	return out
}

// ResetCalls forgets the recorded requests and the concurrency high-water
// marks.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
	s.maxInflight = map[string]int{}
	s.maxActiveAccounts = s.activeAccounts
}

// CountCalls counts recorded requests for an account and action; "" matches
// any.
func (s *Server) CountCalls(account, action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if (account == "" || c.Account == account) && (action == "" || c.Action == action) {
			n++
		}
	}
	return n
}

// Inject adds a fault. Several may be active: every matching fault adds its
// latency, the first matching one with a Code answers. Times counts down on
// each match.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Status == 0 && f.Mode == ModeError {
		switch f.Code {
		case "AccessDenied":
			f.Status = http.StatusForbidden
		case "ServiceFailure":
			f.Status = http.StatusInternalServerError
		default:
			f.Status = http.StatusBadRequest
		}
	}
	s.faults = append(s.faults, &f)
}

// ClearFaults removes all faults.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// SetLatency adds d before answering every request.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// MaxConcurrent is the highest number of requests for account that were in
// flight at once ("" = all accounts together), since New or ResetCalls.
func (s *Server) MaxConcurrent(account string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if account == "" {
		return s.maxInflight[allAccounts]
	}
	return s.maxInflight[account]
}

// MaxConcurrentAccounts is the highest number of distinct accounts that had
// a request in flight at the same moment, since New or ResetCalls: what a
// scan's account concurrency bound promises.
func (s *Server) MaxConcurrentAccounts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxActiveAccounts
}

const allAccounts = "\x00all"

// minResponseDelay holds every answer back a little. It makes the SDK
// transport race described at HTTPClient rare (not impossible) for clients
// built without it.
const minResponseDelay = 20 * time.Microsecond

// findKey finds a key in the account; the caller holds s.mu. An index
// entry is trusted only while its user is still the account's user of that
// name and still has the key at that index; otherwise the index is rebuilt
// (once per lookup), so it can never answer differently from a scan of the
// users.
func (s *Server) findKey(accountID, keyID string) (*User, *Key) {
	a := s.accounts[accountID]
	if a == nil {
		return nil, nil
	}
	valid := func() (*User, *Key) {
		r, ok := a.keys[keyID]
		if ok && r.i < len(r.u.Keys) && r.u.Keys[r.i].ID == keyID && a.byName[r.u.Name] == r.u {
			return r.u, &r.u.Keys[r.i]
		}
		return nil, nil
	}
	if u, k := valid(); k != nil {
		return u, k
	}
	a.keys = make(map[string]keyRef, len(a.keys))
	for _, u := range a.users {
		for i := range u.Keys {
			if _, dup := a.keys[u.Keys[i].ID]; !dup { // the first one, as a scan finds
				a.keys[u.Keys[i].ID] = keyRef{u, i}
			}
		}
	}
	return valid()
}

// sleep waits d, or until the request is gone or the server closes.
func (s *Server) sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.done:
	}
}

func (s *Server) nextRequestID() string {
	s.seq++
	return "00000000-0000-4000-8000-" + leftPad(strconv.FormatInt(s.seq, 10), 12)
}

func leftPad(v string, n int) string {
	for len(v) < n {
		v = "0" + v
	}
	return v
}

func copyTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

func copyKey(k Key) Key {
	k.LastUsed = copyTime(k.LastUsed)
	return k
}

func copyUser(u User) *User {
	c := u
	if u.Tags != nil {
		c.Tags = make(map[string]string, len(u.Tags))
		for k, v := range u.Tags {
			c.Tags[k] = v
		}
	}
	if u.LoginProfile != nil {
		lp := *u.LoginProfile
		c.LoginProfile = &lp
	}
	c.PasswordLastUsed = copyTime(u.PasswordLastUsed)
	c.Keys = make([]Key, len(u.Keys))
	for i, k := range u.Keys {
		c.Keys[i] = copyKey(k)
	}
	return &c
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
