package awstest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// XML namespaces of the Query protocol responses.
const (
	iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
)

// stsActions tells STS actions from IAM ones when the Authorization header
// does not name the service.
var stsActions = map[string]bool{
	"AssumeRole":                 true,
	"AssumeRoleWithSAML":         true,
	"AssumeRoleWithWebIdentity":  true,
	"AssumeRoot":                 true,
	"DecodeAuthorizationMessage": true,
	"GetAccessKeyInfo":           true,
	"GetCallerIdentity":          true,
	"GetFederationToken":         true,
	"GetSessionToken":            true,
}

// apiError is an AWS error answer.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target") // JSON 1.1 (Organizations)
	var form url.Values
	var action string
	if r.URL.Path == securityHubImportPath { // REST-JSON (Security Hub)
		body, _ := io.ReadAll(r.Body)
		form, action = securityHubParams(body), "BatchImportFindings"
	} else if target != "" {
		body, _ := io.ReadAll(r.Body)
		var err error
		if form, err = orgParams(body); err != nil {
			writeJSONError(w, "", newError(http.StatusBadRequest, "SerializationException", "%v", err))
			return
		}
		action = strings.TrimPrefix(strings.TrimPrefix(target, orgTargetPrefix), ssmTargetPrefix)
	} else {
		if err := r.ParseForm(); err != nil {
			writeError(w, iamNamespace, "", newError(http.StatusBadRequest, "MalformedQueryString", "%v", err))
			return
		}
		form = r.Form
		action = form.Get("Action")
	}
	akid, service := parseCredential(r.Header.Get("Authorization"))
	if akid == "" {
		akid, service = parseCredentialScope(form.Get("X-Amz-Credential"))
	}
	if action == "BatchImportFindings" && r.URL.Path == securityHubImportPath {
		service = "securityhub"
	} else if strings.HasPrefix(target, ssmTargetPrefix) {
		service = "ssm"
	} else if target != "" {
		service = "organizations"
	} else if service != "iam" && service != "sts" && service != "sns" {
		service = "iam"
		if stsActions[action] {
			service = "sts"
		}
	}
	namespace := iamNamespace
	if service == "sts" {
		namespace = stsNamespace
	}
	if service == "sns" {
		namespace = snsNamespace
	}

	s.mu.Lock()
	now := s.clock()
	// AWS dates every answer; clients read the server's clock from it.
	w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
	requestID := s.nextRequestID()
	p := s.principals[akid]
	// The form is never changed once parsed: recorded as it is (Calls
	// hands out copies).
	call := Call{Action: action, Service: service, Params: form, At: now}
	var fail *apiError
	switch {
	case akid == "":
		fail = newError(http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
	case p == nil:
		fail = newError(http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
	case p.token != "" && r.Header.Get("X-Amz-Security-Token") != p.token && form.Get("X-Amz-Security-Token") != p.token:
		fail = newError(http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
	case p.token == "" && s.keyInactive(p):
		fail = newError(http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	if p != nil {
		call.Account = p.account
		call.Caller = s.principalARN(p)
		if service == "sts" && action == "AssumeRole" {
			if target, _, ok := parseRoleARN(form.Get("RoleArn")); ok {
				call.Account = target
			}
		}
	}
	s.calls = append(s.calls, call)
	delay := s.latency
	mode := ModeError
	if fail == nil {
		var extra time.Duration
		extra, fail, mode = s.matchFaults(call.Account, action)
		delay += extra
	}
	s.enter(call.Account)
	s.mu.Unlock()
	defer s.leave(call.Account)

	s.sleep(r.Context(), max(delay, minResponseDelay))
	if r.Context().Err() != nil {
		return // the client gave up while the request was held back: it never took effect
	}
	if mode != ModeError {
		// The action runs; its answer is held back and mangled.
		rec := newRecorder()
		s.answer(rec, service, target, namespace, requestID, action, p, form, fail, mode)
		if mode == ModeHang {
			s.hang(r)
			return
		}
		rec.flush(w, mode, target != "" || service == "securityhub")
		return
	}
	s.answer(w, service, target, namespace, requestID, action, p, form, fail, mode)
}

// answer carries out the request and writes its answer.
func (s *Server) answer(w http.ResponseWriter, service, target, namespace, requestID, action string, p *principal, form url.Values, fail *apiError, mode FaultMode) {
	if service == "ssm" {
		s.serveSSM(w, requestID, action, form, fail)
		return
	}
	if service == "securityhub" {
		s.serveSecurityHub(w, requestID, form, fail)
		return
	}
	if target != "" {
		s.serveOrganizations(w, requestID, action, p, form, fail)
		return
	}
	if fail != nil {
		writeError(w, namespace, requestID, fail)
		return
	}

	s.mu.Lock()
	result, fail := s.dispatch(service, action, p, form)
	s.mu.Unlock()
	if fail != nil {
		writeError(w, namespace, requestID, fail)
		return
	}
	switch mode {
	case ModeTruncated:
		result = truncate(result)
	case ModeMissingElement:
		result = emptyResult{}
	}
	writeResult(w, namespace, action, requestID, result)
}

// dispatch runs an action; the caller holds s.mu.
func (s *Server) dispatch(service, action string, p *principal, form url.Values) (any, *apiError) {
	if service == "sns" {
		return s.dispatchSNS(action, p, form)
	}
	if service == "sts" {
		switch action {
		case "GetCallerIdentity":
			return s.getCallerIdentity(p)
		case "AssumeRole":
			return s.assumeRole(p, form)
		}
	} else if h, ok := iamActions[action]; ok {
		a := s.accounts[p.account]
		if a == nil {
			a = &account{id: p.account, byName: map[string]*User{}}
			s.accounts[p.account] = a
		}
		return s.withStaleness(action, &iamRequest{p: p, acct: a, form: form, now: s.clock()}, h)
	}
	return nil, newError(http.StatusBadRequest, "InvalidAction", "Could not find operation %s for version %s", action, form.Get("Version"))
}

// matchFaults applies the faults that match; the caller holds s.mu.
func (s *Server) matchFaults(account, action string) (time.Duration, *apiError, FaultMode) {
	var delay time.Duration
	var fail *apiError
	mode := ModeError
	kept := s.faults[:0]
	for _, f := range s.faults {
		match := (f.Account == "" || f.Account == account) && (f.Action == "" || f.Action == action)
		if match {
			delay += f.Latency
		}
		if match && f.Mode != ModeError {
			if mode != ModeError {
				kept = append(kept, f) // an earlier mode fault applies; this one waits
				continue
			}
			mode = f.Mode
			if f.Times > 0 {
				f.Times--
				if f.Times == 0 {
					continue
				}
			}
		} else if match && (f.Code == "" || fail == nil) {
			if f.Code != "" {
				msg := f.Message
				if msg == "" {
					msg = "Injected " + f.Code
					if f.Code == "Throttling" {
						msg = "Rate exceeded"
					}
				}
				fail = &apiError{Status: f.Status, Code: f.Code, Message: msg}
			}
			if f.Times > 0 {
				f.Times--
				if f.Times == 0 {
					continue
				}
			}
		}
		kept = append(kept, f)
	}
	s.faults = kept
	return delay, fail, mode
}

// enter counts a request in flight; the caller holds s.mu.
func (s *Server) enter(account string) {
	if s.inflight[account] == 0 {
		s.activeAccounts++
		s.maxActiveAccounts = max(s.maxActiveAccounts, s.activeAccounts)
	}
	for _, k := range []string{account, allAccounts} {
		s.inflight[k]++
		if s.inflight[k] > s.maxInflight[k] {
			s.maxInflight[k] = s.inflight[k]
		}
	}
}

func (s *Server) leave(account string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight[account]--
	s.inflight[allAccounts]--
	if s.inflight[account] == 0 {
		s.activeAccounts--
	}
}

// keyInactive reports whether the caller's access key is seeded in its
// account and inactive; the caller holds s.mu.
func (s *Server) keyInactive(p *principal) bool {
	_, k := s.findKey(p.account, p.akid)
	return k != nil && k.Status != "Active"
}

// parseCredential reads the access key ID and service from a SigV4
// Authorization header.
func parseCredential(auth string) (akid, service string) {
	i := strings.Index(auth, "Credential=")
	if i < 0 {
		return "", ""
	}
	scope := auth[i+len("Credential="):]
	if j := strings.IndexAny(scope, ", "); j >= 0 {
		scope = scope[:j]
	}
	return parseCredentialScope(scope)
}

// parseCredentialScope splits AKID/date/region/service/aws4_request.
func parseCredentialScope(scope string) (akid, service string) {
	parts := strings.Split(scope, "/")
	if len(parts) != 5 {
		return "", ""
	}
	return parts[0], parts[3]
}

// parseRoleARN splits arn:aws:iam::<account>:role/<path/><name>.
func parseRoleARN(arn string) (accountID, roleName string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || parts[4] == "" || !strings.HasPrefix(parts[5], "role/") {
		return "", "", false
	}
	name := parts[5][strings.LastIndex(parts[5], "/")+1:]
	if name == "" {
		return "", "", false
	}
	return parts[4], name, true
}

// principalARN is the ARN of the principal; the caller holds s.mu.
func (s *Server) principalARN(p *principal) string {
	if p.role != "" {
		return fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", p.account, p.role, p.session)
	}
	path := "/"
	if a := s.accounts[p.account]; a != nil {
		if u := a.byName[p.user]; u != nil {
			path = u.Path
		}
	}
	return userARN(p.account, path, p.user)
}

func userARN(accountID, path, name string) string {
	return "arn:aws:iam::" + accountID + ":user" + path + name
}

// uniqueID derives a stable IAM unique ID (AIDA..., AROA...) from a name.
func uniqueID(prefix string, parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return prefix + base32.StdEncoding.EncodeToString(sum[:])[:17]
}

// isoTime formats a timestamp as the Query protocol does.
func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// members is a Query protocol list.
type members[T any] struct {
	Member []T `xml:"member"`
}

// responseBufs recycles response buffers: a credential report or a page of
// 1,000 user details is hundreds of kilobytes.
var responseBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func writeResult(w http.ResponseWriter, namespace, action, requestID string, result any) {
	buf := responseBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer responseBufs.Put(buf)
	buf.WriteString(xml.Header)
	fmt.Fprintf(buf, `<%sResponse xmlns="%s">`, action, namespace)
	if result != nil {
		enc := xml.NewEncoder(buf)
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			writeError(w, namespace, requestID, newError(http.StatusInternalServerError, "ServiceFailure", "awstest: encode %s: %v", action, err))
			return
		}
		if err := enc.Flush(); err != nil {
			writeError(w, namespace, requestID, newError(http.StatusInternalServerError, "ServiceFailure", "awstest: encode %s: %v", action, err))
			return
		}
	}
	fmt.Fprintf(buf, `<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`, requestID, action)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, namespace, requestID string, e *apiError) {
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	fmt.Fprintf(&buf, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>`, namespace, typ)
	_ = xml.EscapeText(&buf, []byte(e.Code))
	buf.WriteString(`</Code><Message>`)
	_ = xml.EscapeText(&buf, []byte(e.Message))
	fmt.Fprintf(&buf, `</Message></Error><RequestId>%s</RequestId></ErrorResponse>`, requestID)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.WriteHeader(e.Status)
	_, _ = w.Write(buf.Bytes())
}
