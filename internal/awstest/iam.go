package awstest

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// iamRequest is one IAM request of an authenticated principal.
type iamRequest struct {
	p    *principal
	acct *account
	form url.Values
	now  time.Time
}

type iamHandler func(s *Server, r *iamRequest) (any, *apiError)

var iamActions map[string]iamHandler

func init() {
	iamActions = map[string]iamHandler{
		"GenerateCredentialReport":       (*Server).generateCredentialReport,
		"GetCredentialReport":            (*Server).getCredentialReport,
		"GetAccountAuthorizationDetails": (*Server).getAccountAuthorizationDetails,
		"ListUsers":                      (*Server).listUsers,
		"ListAccessKeys":                 (*Server).listAccessKeys,
		"GetAccessKeyLastUsed":           (*Server).getAccessKeyLastUsed,
		"GetLoginProfile":                (*Server).getLoginProfile,
		"GetUser":                        (*Server).getUser,
		"ListUserTags":                   (*Server).listUserTags,
		"UpdateAccessKey":                (*Server).updateAccessKey,
		"DeleteLoginProfile":             (*Server).deleteLoginProfile,
		"CreateLoginProfile":             (*Server).createLoginProfile,
	}
}

// XML shapes.

type tagXML struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type userXML struct {
	Path             string           `xml:"Path"`
	UserName         string           `xml:"UserName"`
	UserID           string           `xml:"UserId"`
	Arn              string           `xml:"Arn"`
	CreateDate       string           `xml:"CreateDate"`
	PasswordLastUsed string           `xml:"PasswordLastUsed,omitempty"`
	Tags             *members[tagXML] `xml:"Tags,omitempty"`
}

type userDetailXML struct {
	Path                    string          `xml:"Path"`
	UserName                string          `xml:"UserName"`
	UserID                  string          `xml:"UserId"`
	Arn                     string          `xml:"Arn"`
	CreateDate              string          `xml:"CreateDate"`
	UserPolicyList          members[string] `xml:"UserPolicyList"`
	GroupList               members[string] `xml:"GroupList"`
	AttachedManagedPolicies members[string] `xml:"AttachedManagedPolicies"`
	Tags                    members[tagXML] `xml:"Tags"`
}

type accessKeyXML struct {
	UserName    string `xml:"UserName"`
	AccessKeyID string `xml:"AccessKeyId"`
	Status      string `xml:"Status"`
	CreateDate  string `xml:"CreateDate"`
}

type loginProfileXML struct {
	UserName              string `xml:"UserName"`
	CreateDate            string `xml:"CreateDate"`
	PasswordResetRequired bool   `xml:"PasswordResetRequired"`
}

// Helpers.

func noSuchUser(name string) *apiError {
	return newError(http.StatusNotFound, "NoSuchEntity", "The user with name %s cannot be found.", name)
}

func validation(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, "ValidationError", format, args...)
}

// targetUser resolves the UserName parameter, defaulting to the caller.
func (r *iamRequest) targetUser() (*User, *apiError) {
	name := r.form.Get("UserName")
	if name == "" {
		if r.p.user == "" {
			return nil, validation("Must specify userName when calling with non-User credentials")
		}
		name = r.p.user
	}
	u := r.acct.byName[name]
	if u == nil {
		return nil, noSuchUser(name)
	}
	return u, nil
}

// page reads MaxItems (default 100, at most 1000) and Marker (an index)
// and returns the [start, end) window of n items and the next marker.
func (r *iamRequest) page(n int) (start, end int, truncated bool, next string, err *apiError) {
	limit := 100
	if v := r.form.Get("MaxItems"); v != "" {
		m, convErr := strconv.Atoi(v)
		if convErr != nil || m < 1 {
			return 0, 0, false, "", validation("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1", v)
		}
		limit = min(m, 1000)
	}
	if v := r.form.Get("Marker"); v != "" {
		m, convErr := strconv.Atoi(v)
		if convErr != nil || m < 0 || m > n {
			return 0, 0, false, "", validation("Invalid Marker.")
		}
		start = m
	}
	end = min(start+limit, n)
	if end < n {
		return start, end, true, strconv.Itoa(end), nil
	}
	return start, end, false, "", nil
}

func tagsXML(tags map[string]string) []tagXML {
	out := make([]tagXML, 0, len(tags))
	for _, k := range sortedKeys(tags) {
		out = append(out, tagXML{Key: k, Value: tags[k]})
	}
	return out
}

func (a *account) userXML(u *User, withTags bool) userXML {
	x := userXML{
		Path:       u.Path,
		UserName:   u.Name,
		UserID:     uniqueID("AIDA", a.id, u.Name),
		Arn:        userARN(a.id, u.Path, u.Name),
		CreateDate: isoTime(u.Created),
	}
	if u.PasswordLastUsed != nil {
		x.PasswordLastUsed = isoTime(*u.PasswordLastUsed)
	}
	if withTags && len(u.Tags) > 0 {
		x.Tags = &members[tagXML]{Member: tagsXML(u.Tags)}
	}
	return x
}

// Actions.

func (s *Server) generateCredentialReport(r *iamRequest) (any, *apiError) {
	type result struct {
		State       string `xml:"State"`
		Description string `xml:"Description"`
	}
	rep := r.acct.report
	switch {
	case rep != nil && !rep.complete:
		rep.complete = true
		return result{State: "COMPLETE", Description: "Report generation is complete."}, nil
	case rep == nil || r.now.Sub(rep.generated) > reportMaxAge:
		r.acct.report = &report{generated: r.now, csv: r.acct.credentialReport(r.now)}
		return result{State: "STARTED", Description: "No report exists. Starting a new report generation task"}, nil
	default:
		return result{State: "COMPLETE", Description: "Report generation is complete."}, nil
	}
}

func (s *Server) getCredentialReport(r *iamRequest) (any, *apiError) {
	rep := r.acct.report
	if rep == nil {
		return nil, newError(http.StatusGone, "ReportNotPresent", "Credential report not present. Use GenerateCredentialReport to generate a report.")
	}
	if !rep.complete {
		return nil, newError(http.StatusNotFound, "ReportInProgress", "Credential report generation is in progress.")
	}
	return struct {
		Content       string `xml:"Content"`
		ReportFormat  string `xml:"ReportFormat"`
		GeneratedTime string `xml:"GeneratedTime"`
	}{
		Content:       base64.StdEncoding.EncodeToString(rep.csv),
		ReportFormat:  "text/csv",
		GeneratedTime: isoTime(rep.generated),
	}, nil
}

func (s *Server) getAccountAuthorizationDetails(r *iamRequest) (any, *apiError) {
	wantUsers := true
	if filters := filterValues(r.form); len(filters) > 0 {
		wantUsers = false
		for _, f := range filters {
			if f == "User" {
				wantUsers = true
			}
		}
	}
	var users []*User
	if wantUsers {
		users = r.acct.users
	}
	start, end, truncated, next, err := r.page(len(users))
	if err != nil {
		return nil, err
	}
	type result struct {
		UserDetailList  members[userDetailXML] `xml:"UserDetailList"`
		GroupDetailList members[string]        `xml:"GroupDetailList"`
		RoleDetailList  members[string]        `xml:"RoleDetailList"`
		Policies        members[string]        `xml:"Policies"`
		IsTruncated     bool                   `xml:"IsTruncated"`
		Marker          string                 `xml:"Marker,omitempty"`
	}
	out := result{IsTruncated: truncated, Marker: next}
	for _, u := range users[start:end] {
		out.UserDetailList.Member = append(out.UserDetailList.Member, userDetailXML{
			Path:       u.Path,
			UserName:   u.Name,
			UserID:     uniqueID("AIDA", r.acct.id, u.Name),
			Arn:        userARN(r.acct.id, u.Path, u.Name),
			CreateDate: isoTime(u.Created),
			Tags:       members[tagXML]{Member: tagsXML(u.Tags)},
		})
	}
	return out, nil
}

// filterValues reads Filter.member.N.
func filterValues(form url.Values) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form["Filter.member."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v...)
	}
}

func (s *Server) listUsers(r *iamRequest) (any, *apiError) {
	prefix := r.form.Get("PathPrefix")
	users := r.acct.users
	if prefix != "" && prefix != "/" {
		users = nil
		for _, u := range r.acct.users {
			if len(u.Path) >= len(prefix) && u.Path[:len(prefix)] == prefix {
				users = append(users, u)
			}
		}
	}
	start, end, truncated, next, err := r.page(len(users))
	if err != nil {
		return nil, err
	}
	type result struct {
		Users       members[userXML] `xml:"Users"`
		IsTruncated bool             `xml:"IsTruncated"`
		Marker      string           `xml:"Marker,omitempty"`
	}
	out := result{IsTruncated: truncated, Marker: next}
	for _, u := range users[start:end] {
		out.Users.Member = append(out.Users.Member, r.acct.userXML(u, false))
	}
	return out, nil
}

func (s *Server) listAccessKeys(r *iamRequest) (any, *apiError) {
	u, err := r.targetUser()
	if err != nil {
		return nil, err
	}
	start, end, truncated, next, err := r.page(len(u.Keys))
	if err != nil {
		return nil, err
	}
	type result struct {
		AccessKeyMetadata members[accessKeyXML] `xml:"AccessKeyMetadata"`
		IsTruncated       bool                  `xml:"IsTruncated"`
		Marker            string                `xml:"Marker,omitempty"`
	}
	out := result{IsTruncated: truncated, Marker: next}
	for _, k := range u.Keys[start:end] {
		out.AccessKeyMetadata.Member = append(out.AccessKeyMetadata.Member, accessKeyXML{
			UserName:    u.Name,
			AccessKeyID: k.ID,
			Status:      k.Status,
			CreateDate:  isoTime(k.Created),
		})
	}
	return out, nil
}

func (s *Server) getAccessKeyLastUsed(r *iamRequest) (any, *apiError) {
	id := r.form.Get("AccessKeyId")
	u, k := s.findKey(r.acct.id, id)
	if k == nil {
		return nil, newError(http.StatusForbidden, "AccessDenied",
			"User: %s is not authorized to perform: iam:GetAccessKeyLastUsed on resource: access key %s", s.principalARN(r.p), id)
	}
	type lastUsed struct {
		LastUsedDate string `xml:"LastUsedDate,omitempty"`
		ServiceName  string `xml:"ServiceName"`
		Region       string `xml:"Region"`
	}
	lu := lastUsed{ServiceName: "N/A", Region: "N/A"}
	if k.LastUsed != nil {
		lu.LastUsedDate = isoTime(*k.LastUsed)
		if k.LastUsedService != "" {
			lu.ServiceName = k.LastUsedService
		}
		if k.LastUsedRegion != "" {
			lu.Region = k.LastUsedRegion
		}
	}
	return struct {
		UserName          string   `xml:"UserName"`
		AccessKeyLastUsed lastUsed `xml:"AccessKeyLastUsed"`
	}{UserName: u.Name, AccessKeyLastUsed: lu}, nil
}

func (s *Server) getLoginProfile(r *iamRequest) (any, *apiError) {
	u, err := r.targetUser()
	if err != nil {
		return nil, err
	}
	if u.LoginProfile == nil {
		return nil, newError(http.StatusNotFound, "NoSuchEntity", "Login Profile for User %s cannot be found.", u.Name)
	}
	return struct {
		LoginProfile loginProfileXML `xml:"LoginProfile"`
	}{loginProfileXML{UserName: u.Name, CreateDate: isoTime(u.LoginProfile.Created), PasswordResetRequired: u.LoginProfile.PasswordResetRequired}}, nil
}

func (s *Server) getUser(r *iamRequest) (any, *apiError) {
	u, err := r.targetUser()
	if err != nil {
		return nil, err
	}
	return struct {
		User userXML `xml:"User"`
	}{r.acct.userXML(u, true)}, nil
}

func (s *Server) listUserTags(r *iamRequest) (any, *apiError) {
	name := r.form.Get("UserName")
	u := r.acct.byName[name]
	if u == nil {
		return nil, noSuchUser(name)
	}
	tags := tagsXML(u.Tags)
	start, end, truncated, next, err := r.page(len(tags))
	if err != nil {
		return nil, err
	}
	return struct {
		Tags        members[tagXML] `xml:"Tags"`
		IsTruncated bool            `xml:"IsTruncated"`
		Marker      string          `xml:"Marker,omitempty"`
	}{members[tagXML]{Member: tags[start:end]}, truncated, next}, nil
}

func (s *Server) updateAccessKey(r *iamRequest) (any, *apiError) {
	u, err := r.targetUser()
	if err != nil {
		return nil, err
	}
	status := r.form.Get("Status")
	if status != "Active" && status != "Inactive" {
		return nil, validation("1 validation error detected: Value '%s' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]", status)
	}
	id := r.form.Get("AccessKeyId")
	for i := range u.Keys {
		if u.Keys[i].ID == id {
			u.Keys[i].Status = status
			return nil, nil
		}
	}
	return nil, newError(http.StatusNotFound, "NoSuchEntity", "The Access Key with id %s cannot be found.", id)
}

func (s *Server) deleteLoginProfile(r *iamRequest) (any, *apiError) {
	u, err := r.targetUser()
	if err != nil {
		return nil, err
	}
	if u.LoginProfile == nil {
		return nil, newError(http.StatusNotFound, "NoSuchEntity", "Login Profile for User %s cannot be found.", u.Name)
	}
	u.LoginProfile = nil
	return nil, nil
}

func (s *Server) createLoginProfile(r *iamRequest) (any, *apiError) {
	u, err := r.targetUser()
	if err != nil {
		return nil, err
	}
	if r.form.Get("Password") == "" {
		return nil, validation("1 validation error detected: Value at 'password' failed to satisfy constraint: Member must not be null")
	}
	if u.LoginProfile != nil {
		return nil, newError(http.StatusConflict, "EntityAlreadyExists", "Login Profile for user %s already exists.", u.Name)
	}
	reset := r.form.Get("PasswordResetRequired") == "true"
	u.LoginProfile = &LoginProfile{Created: r.now, PasswordLastChanged: r.now, PasswordResetRequired: reset}
	return struct {
		LoginProfile loginProfileXML `xml:"LoginProfile"`
	}{loginProfileXML{UserName: u.Name, CreateDate: isoTime(r.now), PasswordResetRequired: reset}}, nil
}
