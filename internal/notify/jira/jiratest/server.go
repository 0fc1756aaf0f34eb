// Package jiratest is a test-only JIRA server implementing the REST API v2
// endpoints keywarden uses: create issue, edit (labels), assign, watchers,
// issue link, comment, get issue (status, comments), transitions, search by
// label and myself. It records every request with its body, for golden
// payloads, and answers as JIRA does when a user cannot be assigned issues.
package jiratest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Ticket is a ticket in the server.
type Ticket struct {
	Key, Project, Type, Summary, Description string
	Labels                                   []string
	// Priority is the priority's name; Reporter the user who created it.
	Priority, Reporter string
	// Custom holds the customfield_* values as sent.
	Custom   map[string]any
	Assignee string
	Watchers []string
	Links    []string // linked (outward) keys
	Comments []string
	Status   string // "To Do", "Done"
}

// Request is one request the server received.
type Request struct {
	Method, Path, Query string
	// Body is the JSON body, re-encoded with sorted keys ("" when none).
	Body string
}

// Server is a running fake JIRA.
type Server struct {
	*httptest.Server
	// User and Token are the expected basic-auth credentials.
	User, Token string
	// AccountID, when set, makes the server answer as JIRA Cloud does:
	// myself has an accountId and no name.
	AccountID string

	mu           sync.Mutex
	tickets      []*Ticket
	byKey        map[string]*Ticket
	calls        []string
	requests     []Request
	fail         int
	failOn       []failOn
	unassignable map[string]bool
}

type failOn struct {
	method, suffix string
	n              int
}

// New starts a server expecting basic auth user:token.
func New(user, token string) *Server {
	s := &Server{User: user, Token: token, byKey: map[string]*Ticket{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Fail makes the next n requests fail with 503.
func (s *Server) Fail(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = n
}

// FailOn makes the next n requests of method whose path ends in suffix
// fail with 503.
func (s *Server) FailOn(method, suffix string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failOn = append(s.failOn, failOn{method, suffix, n})
}

// Unassignable makes users that JIRA refuses as assignees (the user exists
// but lacks the Assignable User permission in the project, or does not
// exist): assigning them answers 400 as JIRA does.
func (s *Server) Unassignable(users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unassignable == nil {
		s.unassignable = map[string]bool{}
	}
	for _, u := range users {
		s.unassignable[u] = true
	}
}

// Requests returns every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Tickets returns copies of the tickets, in creation order.
func (s *Server) Tickets() []Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Ticket, len(s.tickets))
	for i, t := range s.tickets {
		out[i] = *t
		out[i].Comments = append([]string(nil), t.Comments...)
		out[i].Labels = append([]string(nil), t.Labels...)
		out[i].Watchers = append([]string(nil), t.Watchers...)
	}
	return out
}

// Calls returns "METHOD /path" of every request.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

var (
	issuePath = regexp.MustCompile(`^/rest/api/2/issue/([A-Z][A-Z0-9]*-\d+)(/assignee|/comment|/transitions|/watchers)?$`)
	labelJQL  = regexp.MustCompile(`^labels = "([^"]+)"$`)
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, r.Method+" "+r.URL.Path)
	if u, p, ok := r.BasicAuth(); !ok || u != s.User || p != s.Token {
		http.Error(w, `{"errorMessages":["unauthorized"]}`, http.StatusUnauthorized)
		return
	}
	if s.fail > 0 {
		s.fail--
		http.Error(w, `{"errorMessages":["service unavailable"]}`, http.StatusServiceUnavailable)
		return
	}
	for i := range s.failOn {
		if f := &s.failOn[i]; f.n > 0 && r.Method == f.method && strings.HasSuffix(r.URL.Path, f.suffix) {
			f.n--
			http.Error(w, `{"errorMessages":["service unavailable"]}`, http.StatusServiceUnavailable)
			return
		}
	}
	var body map[string]any
	var raw any
	req := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
	if r.Body != nil && (r.Method == http.MethodPost || r.Method == http.MethodPut) {
		if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
			s.requests = append(s.requests, req)
			http.Error(w, `{"errorMessages":["bad json"]}`, http.StatusBadRequest)
			return
		}
		b, _ := json.MarshalIndent(raw, "", "  ")
		req.Body = string(b)
		body, _ = raw.(map[string]any)
	}
	s.requests = append(s.requests, req)
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/rest/api/2/myself":
		if s.AccountID != "" {
			writeJSON(w, http.StatusOK, map[string]any{"accountId": s.AccountID, "displayName": "keywarden bot", "active": true})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"name": s.User, "displayName": "keywarden bot", "active": true})
	case r.Method == http.MethodPost && r.URL.Path == "/rest/api/2/issue":
		f, _ := body["fields"].(map[string]any)
		t := &Ticket{Status: "To Do", Project: str(f, "project", "key"), Type: str(f, "issuetype", "name"),
			Summary: str(f, "summary"), Description: str(f, "description"), Priority: str(f, "priority", "name"),
			Reporter: s.User}
		for k, v := range f {
			if strings.HasPrefix(k, "customfield_") {
				if t.Custom == nil {
					t.Custom = map[string]any{}
				}
				t.Custom[k] = v
			}
		}
		if t.Project == "" || t.Summary == "" {
			http.Error(w, `{"errors":{"project":"project is required"}}`, http.StatusBadRequest)
			return
		}
		if ls, ok := f["labels"].([]any); ok {
			for _, l := range ls {
				t.Labels = append(t.Labels, fmt.Sprint(l))
			}
		}
		n := 0
		for _, o := range s.tickets {
			if o.Project == t.Project {
				n++
			}
		}
		t.Key = fmt.Sprintf("%s-%d", t.Project, n+1)
		s.tickets = append(s.tickets, t)
		s.byKey[t.Key] = t
		writeJSON(w, http.StatusCreated, map[string]any{"id": fmt.Sprint(len(s.tickets)), "key": t.Key, "self": s.URL + "/rest/api/2/issue/" + t.Key})
	case r.Method == http.MethodPost && r.URL.Path == "/rest/api/2/issueLink":
		in, out := str(body, "inwardIssue", "key"), str(body, "outwardIssue", "key")
		t := s.byKey[in]
		if t == nil || str(body, "type", "name") == "" {
			http.Error(w, `{"errorMessages":["bad link"]}`, http.StatusBadRequest)
			return
		}
		t.Links = append(t.Links, out)
		w.WriteHeader(http.StatusCreated)
	case r.Method == http.MethodGet && r.URL.Path == "/rest/api/2/search":
		m := labelJQL.FindStringSubmatch(r.URL.Query().Get("jql"))
		var found []any
		for _, t := range s.tickets {
			for _, l := range t.Labels {
				if m != nil && l == m[1] {
					found = append(found, map[string]any{"key": t.Key, "fields": map[string]any{"status": status(t)}})
				}
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"startAt": 0, "maxResults": 50, "total": len(found), "issues": found})
	default:
		m := issuePath.FindStringSubmatch(r.URL.Path)
		if m == nil {
			http.Error(w, `{"errorMessages":["not found"]}`, http.StatusNotFound)
			return
		}
		t := s.byKey[m[1]]
		if t == nil {
			http.Error(w, `{"errorMessages":["Issue does not exist"]}`, http.StatusNotFound)
			return
		}
		switch r.Method + " " + m[2] {
		case "PUT ":
			// Edit: labels by "update" operations or by "fields".
			if f, ok := body["fields"].(map[string]any); ok {
				if ls, ok := f["labels"].([]any); ok {
					t.Labels = nil
					for _, l := range ls {
						t.Labels = append(t.Labels, fmt.Sprint(l))
					}
				}
			}
			if u, ok := body["update"].(map[string]any); ok {
				ops, _ := u["labels"].([]any)
				for _, op := range ops {
					o, _ := op.(map[string]any)
					if a, ok := o["add"].(string); ok && !slices.Contains(t.Labels, a) {
						t.Labels = append(t.Labels, a)
					}
					if d, ok := o["remove"].(string); ok {
						t.Labels = slices.DeleteFunc(t.Labels, func(l string) bool { return l == d })
					}
				}
			}
			w.WriteHeader(http.StatusNoContent)
		case "POST /watchers":
			u, ok := raw.(string)
			if !ok || u == "" {
				http.Error(w, `{"errorMessages":["the body is the user name, as a JSON string"]}`, http.StatusBadRequest)
				return
			}
			if !slices.Contains(t.Watchers, u) {
				t.Watchers = append(t.Watchers, u)
			}
			w.WriteHeader(http.StatusNoContent)
		case "GET ":
			var comments []any
			for i, c := range t.Comments {
				comments = append(comments, map[string]any{"id": fmt.Sprint(i + 1), "body": c})
			}
			writeJSON(w, http.StatusOK, map[string]any{"key": t.Key, "fields": map[string]any{
				"status": status(t), "comment": map[string]any{"comments": comments, "total": len(comments)}}})
		case "PUT /assignee":
			name, _ := body["name"].(string)
			if id, ok := body["accountId"].(string); ok && name == "" {
				name = id
			}
			if s.unassignable[name] || name == "" {
				writeJSON(w, http.StatusBadRequest, map[string]any{"errorMessages": []any{},
					"errors": map[string]any{"assignee": fmt.Sprintf("User '%s' cannot be assigned issues.", name)}})
				return
			}
			t.Assignee = name
			w.WriteHeader(http.StatusNoContent)
		case "POST /comment":
			c, _ := body["body"].(string)
			t.Comments = append(t.Comments, c)
			writeJSON(w, http.StatusCreated, map[string]any{"id": fmt.Sprint(len(t.Comments)), "body": c})
		case "GET /transitions":
			writeJSON(w, http.StatusOK, map[string]any{"transitions": []any{
				map[string]any{"id": "21", "name": "Start Progress", "to": map[string]any{"name": "In Progress", "statusCategory": map[string]any{"key": "indeterminate"}}},
				map[string]any{"id": "31", "name": "Done", "to": map[string]any{"name": "Done", "statusCategory": map[string]any{"key": "done"}}},
			}})
		case "POST /transitions":
			switch str(body, "transition", "id") {
			case "31":
				t.Status = "Done"
			case "21":
				t.Status = "In Progress"
			default:
				http.Error(w, `{"errorMessages":["no such transition"]}`, http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, `{"errorMessages":["method not allowed"]}`, http.StatusMethodNotAllowed)
		}
	}
}

func status(t *Ticket) map[string]any {
	cat := "new"
	switch t.Status {
	case "Done":
		cat = "done"
	case "In Progress":
		cat = "indeterminate"
	}
	return map[string]any{"name": t.Status, "statusCategory": map[string]any{"key": cat}}
}

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[p]
	}
	s, _ := v.(string)
	return strings.TrimSpace(s)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
