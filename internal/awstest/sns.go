package awstest

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// snsNamespace is the XML namespace of SNS Query responses.
const snsNamespace = "http://sns.amazonaws.com/doc/2010-03-31/"

// Published is one message published to a topic.
type Published struct {
	TopicARN  string
	MessageID string
	Subject   string
	Message   string
	// Attributes are the String message attributes.
	Attributes map[string]string
	GroupID    string
	DedupID    string
	At         time.Time
}

type snsState struct {
	topics    map[string]bool
	published []Published
	// dedup maps a FIFO topic's deduplication ID to its message ID and
	// time (five-minute window).
	dedup map[string]Published
}

// AddTopic creates an SNS topic: Publish to any other ARN fails NotFound.
func (s *Server) AddTopic(arn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snsState().topics[arn] = true
}

// Published returns the messages published, oldest first (a FIFO topic's
// deduplicated repeats are not included).
func (s *Server) Published() []Published {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Published, len(s.snsState().published))
	copy(out, s.sns.published)
	return out
}

// snsState returns the SNS state; the caller holds s.mu.
func (s *Server) snsState() *snsState {
	if s.sns == nil {
		s.sns = &snsState{topics: map[string]bool{}, dedup: map[string]Published{}}
	}
	return s.sns
}

type publishResult struct {
	MessageID string `xml:"MessageId"`
}

// dispatchSNS runs an SNS action; the caller holds s.mu.
func (s *Server) dispatchSNS(action string, p *principal, form url.Values) (any, *apiError) {
	if action != "Publish" {
		return nil, newError(http.StatusBadRequest, "InvalidAction", "Could not find operation %s", action)
	}
	st := s.snsState()
	arn := form.Get("TopicArn")
	switch {
	case arn == "":
		return nil, newError(http.StatusBadRequest, "InvalidParameter", "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter")
	case !st.topics[arn]:
		return nil, newError(http.StatusNotFound, "NotFound", "Topic does not exist")
	case form.Get("Message") == "":
		return nil, newError(http.StatusBadRequest, "InvalidParameter", "Invalid parameter: Empty message")
	}
	now := s.clock()
	m := Published{TopicARN: arn, Subject: form.Get("Subject"), Message: form.Get("Message"),
		Attributes: map[string]string{}, GroupID: form.Get("MessageGroupId"), DedupID: form.Get("MessageDeduplicationId"), At: now}
	for i := 1; ; i++ {
		prefix := fmt.Sprintf("MessageAttributes.entry.%d.", i)
		name := form.Get(prefix + "Name")
		if name == "" {
			break
		}
		if dt := form.Get(prefix + "Value.DataType"); dt != "String" && !strings.HasPrefix(dt, "String.") {
			return nil, newError(http.StatusBadRequest, "ParameterValueInvalid", "awstest: attribute %s: data type %s not supported", name, dt)
		}
		m.Attributes[name] = form.Get(prefix + "Value.StringValue")
	}
	if strings.HasSuffix(arn, ".fifo") {
		if m.GroupID == "" {
			return nil, newError(http.StatusBadRequest, "InvalidParameter", "Invalid parameter: The MessageGroupId parameter is required for FIFO topics")
		}
		if m.DedupID == "" {
			return nil, newError(http.StatusBadRequest, "InvalidParameter", "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
		}
		if prev, ok := st.dedup[arn+"\x00"+m.DedupID]; ok && now.Sub(prev.At) < 5*time.Minute {
			return publishResult{MessageID: prev.MessageID}, nil
		}
	}
	m.MessageID = fmt.Sprintf("00000000-0000-4000-a000-%012d", len(st.published)+1)
	st.published = append(st.published, m)
	if m.DedupID != "" {
		st.dedup[arn+"\x00"+m.DedupID] = m
	}
	return publishResult{MessageID: m.MessageID}, nil
}

// AttributeNames lists a message's attribute names, sorted.
func (m Published) AttributeNames() []string {
	names := make([]string, 0, len(m.Attributes))
	for k := range m.Attributes {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
