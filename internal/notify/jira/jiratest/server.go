// Package jiratest is a test-only JIRA server implementing the REST API v2
// endpoints keywarden uses: create issue, assign, issue link, comment,
// get issue (status, comments), transitions, and search by label.
package jiratest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
)

// Ticket is a ticket in the server.
type Ticket struct {
	Key, Project, Type, Summary, Description string
	Labels                                   []string
	Assignee                                 string
	Links                                    []string // linked (outward) keys
	Comments                                 []string
	Status                                   string // "To Do", "Done"
}

// Server is a running fake JIRA.
type Server struct {
	*httptest.Server
	// User and Token are the expected basic-auth credentials.
	User, Token string

	mu      sync.Mutex
	tickets []*Ticket
	byKey   map[string]*Ticket
	calls   []string
	fail    int
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

// Tickets returns copies of the tickets, in creation order.
func (s *Server) Tickets() []Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Ticket, len(s.tickets))
	for i, t := range s.tickets {
		out[i] = *t
		out[i].Comments = append([]string(nil), t.Comments...)
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
	issuePath = regexp.MustCompile(`^/rest/api/2/issue/([A-Z][A-Z0-9]*-\d+)(/assignee|/comment|/transitions)?$`)
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
	var body map[string]any
	if r.Body != nil && (r.Method == http.MethodPost || r.Method == http.MethodPut) {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, `{"errorMessages":["bad json"]}`, http.StatusBadRequest)
			return
		}
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/rest/api/2/issue":
		f, _ := body["fields"].(map[string]any)
		t := &Ticket{Status: "To Do", Project: str(f, "project", "key"), Type: str(f, "issuetype", "name"),
			Summary: str(f, "summary"), Description: str(f, "description")}
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
		case "GET ":
			var comments []any
			for i, c := range t.Comments {
				comments = append(comments, map[string]any{"id": fmt.Sprint(i + 1), "body": c})
			}
			writeJSON(w, http.StatusOK, map[string]any{"key": t.Key, "fields": map[string]any{
				"status": status(t), "comment": map[string]any{"comments": comments, "total": len(comments)}}})
		case "PUT /assignee":
			t.Assignee, _ = body["name"].(string)
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
