package awstest

import (
	"bytes"
	"net/http"
	"reflect"
	"time"
)

// FaultMode says how a request matched by a Fault is answered wrong. Real
// AWS (or a proxy in front of it) sometimes answers 200 with a body that is
// empty, cut off or missing what the API guarantees; a client must read
// each of them as an error, never as "nothing there".
type FaultMode int

const (
	// ModeError answers with Fault.Code (an AWS error) or, when Code is
	// empty, only adds Fault.Latency. The default.
	ModeError FaultMode = iota
	// ModeTruncated answers a paginated action's page with
	// IsTruncated=true and no Marker (AWS Query actions; others answer
	// normally).
	ModeTruncated
	// ModeEmptyBody answers HTTP 200 with an empty body.
	ModeEmptyBody
	// ModeMalformedBody answers HTTP 200 with the body cut off halfway.
	ModeMalformedBody
	// ModeMissingElement answers HTTP 200 with a well-formed response whose
	// result is empty: <ActionResult/> for AWS Query, {} for JSON.
	ModeMissingElement
	// ModeHang never answers: the request is held until the client gives
	// up or the server closes.
	ModeHang
)

// String names the mode, for test names.
func (m FaultMode) String() string {
	switch m {
	case ModeError:
		return "error"
	case ModeTruncated:
		return "truncated"
	case ModeEmptyBody:
		return "empty-body"
	case ModeMalformedBody:
		return "malformed-body"
	case ModeMissingElement:
		return "missing-element"
	case ModeHang:
		return "hang"
	}
	return "unknown"
}

// BadAnswerModes are the modes that answer HTTP 200 with something a client
// must not accept (ModeTruncated only where the action paginates).
var BadAnswerModes = []FaultMode{ModeTruncated, ModeEmptyBody, ModeMalformedBody, ModeMissingElement}

// In every mode but ModeError the action itself is carried out first (a
// write takes effect) and only the answer goes wrong, as when a response is
// lost or mangled on its way back: the client cannot tell whether a write
// happened. To hold a request back before it takes effect, use Latency.

// truncate marks a paginated result as truncated without a marker. It
// returns the result unchanged when it has no IsTruncated field.
func truncate(result any) any {
	if result == nil {
		return nil
	}
	v := reflect.ValueOf(result)
	if v.Kind() != reflect.Struct {
		return result
	}
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	t := c.FieldByName("IsTruncated")
	if !t.IsValid() || t.Kind() != reflect.Bool {
		return result
	}
	t.SetBool(true)
	if m := c.FieldByName("Marker"); m.IsValid() && m.Kind() == reflect.String {
		m.SetString("")
	}
	return c.Interface()
}

// emptyResult stands for a result with none of its elements.
type emptyResult struct{}

// recorder holds a response back so that a fault can mangle it.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// flush writes the recorded response to w as mode mangles it; only 2xx
// answers are mangled.
func (r *recorder) flush(w http.ResponseWriter, mode FaultMode, json bool) {
	for k, vs := range r.header {
		w.Header()[k] = vs
	}
	status := r.status
	if status == 0 {
		status = http.StatusOK
	}
	body := r.body.Bytes()
	if status/100 == 2 {
		switch mode {
		case ModeEmptyBody:
			body = nil
		case ModeMalformedBody:
			body = body[:len(body)/2]
		case ModeMissingElement:
			if json {
				body = []byte("{}")
			}
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// hang holds the request until the client gives up or the server closes.
func (s *Server) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.done:
	}
}

// SetStaleReads makes reads lag writes in account, as IAM's eventual
// consistency does: after each write to a credential (UpdateAccessKey,
// DeleteLoginProfile, CreateLoginProfile), the next n reads that show it
// (ListAccessKeys and GetUser of the user, GetAccessKeyLastUsed of one of its
// keys, GetLoginProfile) answer with the user as it was before the write.
// 0 turns it off (reads already lagging finish their count).
func (s *Server) SetStaleReads(account string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.staleReads == nil {
		s.staleReads = map[string]int{}
	}
	s.staleReads[account] = n
}

// stale is a user as it was before a write, served for a number of reads.
type stale struct {
	user *User
	left int
}

var staleWrites = map[string]bool{"UpdateAccessKey": true, "DeleteLoginProfile": true, "CreateLoginProfile": true}

var staleReadActions = map[string]bool{"ListAccessKeys": true, "GetUser": true, "GetAccessKeyLastUsed": true, "GetLoginProfile": true}

// withStaleness runs an IAM handler, keeping the state before a write for
// the stale reads that follow it and answering such reads from it; the
// caller holds s.mu.
func (s *Server) withStaleness(action string, r *iamRequest, h iamHandler) (any, *apiError) {
	n := s.staleReads[r.acct.id]
	name := r.form.Get("UserName")
	if name == "" {
		name = r.p.user
	}
	if action == "GetAccessKeyLastUsed" {
		if u, _ := s.findKey(r.acct.id, r.form.Get("AccessKeyId")); u != nil {
			name = u.Name
		}
	}
	key := r.acct.id + "\x00" + name
	if staleWrites[action] && n > 0 {
		if u := r.acct.byName[name]; u != nil {
			before := copyUser(*u)
			res, err := h(s, r)
			if err == nil {
				if s.stale == nil {
					s.stale = map[string]*stale{}
				}
				if old, ok := s.stale[key]; ok && old.left > 0 {
					before = old.user // reads still lag an earlier write
				}
				s.stale[key] = &stale{user: before, left: n}
			}
			return res, err
		}
	}
	st, ok := s.stale[key]
	if !staleReadActions[action] || !ok || st.left <= 0 {
		return h(s, r)
	}
	cur := r.acct.byName[name]
	if cur == nil {
		return h(s, r) // deleted since: a stale read of a deleted user is not modelled
	}
	st.left--
	// Answer from the old state: swap it in for this one request.
	i := indexOf(r.acct.users, cur)
	r.acct.byName[name] = st.user
	r.acct.users[i] = st.user
	defer func() {
		r.acct.byName[name] = cur
		r.acct.users[i] = cur
	}()
	return h(s, r)
}

func indexOf(users []*User, u *User) int {
	for i := range users {
		if users[i] == u {
			return i
		}
	}
	return -1
}

// CacheReport renders the account's credential report now, from the
// current state, as if AWS had generated it at generated: GetCredentialReport
// serves it with that GeneratedTime, and GenerateCredentialReport answers
// COMPLETE without regenerating until it is 4 hours old by the server clock
// (as AWS serves a cached report). Change the live state afterwards to make
// the report stale.
func (s *Server) CacheReport(account string, generated time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[account]
	if a == nil {
		return
	}
	a.report = &report{generated: generated, complete: true, csv: a.credentialReport(generated)}
}

// DeleteLoginProfile removes a user's console password in the live state,
// as a person in the console would.
func (s *Server) DeleteLoginProfile(account, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[account]; a != nil {
		if u := a.byName[user]; u != nil {
			u.LoginProfile = nil
		}
	}
}

// SetKeyStatus sets an access key's status ("Active", "Inactive") in the
// live state.
func (s *Server) SetKeyStatus(account, keyID, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, k := s.findKey(account, keyID); k != nil {
		k.Status = status
	}
}

// DeleteKey deletes an access key in the live state.
func (s *Server) DeleteKey(account, keyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, k := s.findKey(account, keyID); k != nil {
		for i := range u.Keys {
			if &u.Keys[i] == k {
				u.Keys = append(u.Keys[:i:i], u.Keys[i+1:]...)
				return
			}
		}
	}
}

// DeleteUser deletes a user in the live state.
func (s *Server) DeleteUser(account, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[account]
	if a == nil || a.byName[user] == nil {
		return
	}
	u := a.byName[user]
	delete(a.byName, user)
	if i := indexOf(a.users, u); i >= 0 {
		a.users = append(a.users[:i:i], a.users[i+1:]...)
	}
}

// AddUser creates a user in the live state of an existing account, as a
// person in the console would, without touching its credential report (a
// cached report then lacks the user).
func (s *Server) AddUser(account string, u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[account]
	if a == nil || a.byName[u.Name] != nil {
		return
	}
	c := copyUser(u)
	if c.Path == "" {
		c.Path = "/"
	}
	if c.Created.IsZero() {
		c.Created = s.clock()
	}
	for i := range c.Keys {
		if c.Keys[i].Status == "" {
			c.Keys[i].Status = "Active"
		}
		if c.Keys[i].Created.IsZero() {
			c.Keys[i].Created = c.Created
		}
	}
	a.users = append(a.users, c)
	a.byName[c.Name] = c
}
