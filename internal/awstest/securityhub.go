package awstest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
)

// Security Hub's BatchImportFindings over REST-JSON: POST /findings/import.
// The call record keeps the request's findings, as sent, in Params
// "Findings" (a JSON array), and each finding's Id in "Id".
const securityHubImportPath = "/findings/import"

func securityHubParams(body []byte) url.Values {
	v := url.Values{}
	var req struct {
		Findings []json.RawMessage
	}
	if err := json.Unmarshal(body, &req); err != nil {
		v.Set("Error", err.Error())
		return v
	}
	b, _ := json.Marshal(req.Findings)
	v.Set("Findings", string(b))
	for _, f := range req.Findings {
		var id struct{ Id string }
		_ = json.Unmarshal(f, &id)
		v.Add("Id", id.Id)
	}
	return v
}

// ImportedFindings returns every finding Security Hub holds, by Id: an
// import with the same Id replaces the earlier one, as Security Hub does.
func (s *Server) ImportedFindings() map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]json.RawMessage, len(s.hub))
	for k, v := range s.hub {
		out[k] = v
	}
	return out
}

func (s *Server) serveSecurityHub(w http.ResponseWriter, requestID string, params url.Values, fail *apiError) {
	if fail == nil && params.Get("Error") != "" {
		fail = newError(http.StatusBadRequest, "InvalidInputException", "%s", params.Get("Error"))
	}
	if fail == nil {
		var fs []json.RawMessage
		_ = json.Unmarshal([]byte(params.Get("Findings")), &fs)
		if len(fs) > 100 {
			fail = newError(http.StatusBadRequest, "InvalidInputException", "at most 100 findings per BatchImportFindings call, got %d", len(fs))
		}
		if fail == nil {
			s.mu.Lock()
			if s.hub == nil {
				s.hub = map[string]json.RawMessage{}
			}
			for i, f := range fs {
				s.hub[params["Id"][i]] = f
			}
			s.mu.Unlock()
			body := `{"FailedCount":0,"SuccessCount":` + strconv.Itoa(len(fs)) + `,"FailedFindings":[]}`
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Amzn-Requestid", requestID)
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(body))
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.Header().Set("X-Amzn-Errortype", fail.Code)
	w.WriteHeader(fail.Status)
	b, _ := json.Marshal(map[string]string{"__type": fail.Code, "message": fail.Message, "Code": fail.Code, "Message": fail.Message})
	_, _ = w.Write(b)
}
