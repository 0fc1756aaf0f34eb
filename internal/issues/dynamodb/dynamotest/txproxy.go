package dynamotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// txProxy stands between the tests and dynalite, which implements every
// DynamoDB action the store uses but TransactWriteItems. It serializes all
// requests (one at a time, so nothing interleaves with a transaction) and
// runs a transaction as its Put, Update and Delete actions one by one, each
// with its own condition, returning the old item (ReturnValues ALL_OLD); when
// one fails it puts the old items back, newest first, and answers as
// DynamoDB does: TransactionCanceledException with one cancellation reason
// per action. Like DynamoDB it refuses more than 100 actions and two actions
// on one item. It is test infrastructure: production DynamoDB does this
// natively.
type txProxy struct {
	target string
	mu     sync.Mutex
	keys   map[string][]string // table -> key attribute names
	// transactions counts the TransactWriteItems served (tests assert
	// the store used them).
	transactions int
	// actions are the API actions served (the IAM policy check).
	actions map[string]bool
}

func newTxProxy(target string) (*txProxy, *httptest.Server) {
	p := &txProxy{target: strings.TrimRight(target, "/"), keys: map[string][]string{}}
	return p, httptest.NewServer(p)
}

func (p *txProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	target := r.Header.Get("X-Amz-Target")
	if p.actions == nil {
		p.actions = map[string]bool{}
	}
	p.actions[strings.TrimPrefix(target, "DynamoDB_20120810.")] = true
	if target == "DynamoDB_20120810.TransactWriteItems" {
		p.transactions++
		status, out := p.transact(r.Header, body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(out)), 10))
		w.WriteHeader(status)
		w.Write(out)
		return
	}
	status, hdr, out, err := p.call(r.Header, target, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for k, vs := range hdr {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(status)
	w.Write(out)
}

// call forwards one request to dynalite (which checks that it is signed,
// not the signature).
func (p *txProxy) call(h http.Header, target string, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, p.target+"/", bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	for _, k := range []string{"Authorization", "X-Amz-Date", "Content-Type"} {
		req.Header.Set(k, h.Get(k))
	}
	req.Header.Set("X-Amz-Target", target)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	res.Header.Del("Content-Length")
	return res.StatusCode, res.Header, out, err
}

type jsonObj = map[string]json.RawMessage

func awsError(typ, msg string, extra map[string]any) []byte {
	m := map[string]any{"__type": "com.amazonaws.dynamodb.v20120810#" + typ, "message": msg}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

// keyOf returns the key attributes of item in table, and their identity.
func (p *txProxy) keyOf(h http.Header, table string, item jsonObj) (jsonObj, string, error) {
	names, ok := p.keys[table]
	if !ok {
		body, _ := json.Marshal(map[string]string{"TableName": table})
		status, _, out, err := p.call(h, "DynamoDB_20120810.DescribeTable", body)
		if err != nil || status != 200 {
			return nil, "", fmt.Errorf("describe %s: %v %s", table, err, out)
		}
		var d struct {
			Table struct {
				KeySchema []struct{ AttributeName string }
			}
		}
		if err := json.Unmarshal(out, &d); err != nil {
			return nil, "", err
		}
		for _, k := range d.Table.KeySchema {
			names = append(names, k.AttributeName)
		}
		sort.Strings(names)
		p.keys[table] = names
	}
	key := jsonObj{}
	id := table
	for _, n := range names {
		key[n] = item[n]
		id += "\x00" + string(item[n])
	}
	return key, id, nil
}

type undo struct {
	table string
	key   jsonObj
	old   json.RawMessage // null: there was no item
}

func (p *txProxy) transact(h http.Header, body []byte) (int, []byte) {
	var in struct{ TransactItems []map[string]jsonObj }
	if err := json.Unmarshal(body, &in); err != nil {
		return 400, awsError("SerializationException", err.Error(), nil)
	}
	if n := len(in.TransactItems); n == 0 || n > 100 {
		return 400, awsError("ValidationException", fmt.Sprintf("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100 (got %d)", n), nil)
	}
	type action struct {
		target string
		req    jsonObj
		table  string
		key    jsonObj
	}
	var acts []action
	seen := map[string]bool{}
	for _, ti := range in.TransactItems {
		var a action
		for op, req := range ti {
			var table string
			json.Unmarshal(req["TableName"], &table)
			a = action{req: req, table: table}
			var keySrc jsonObj
			switch op {
			case "Put":
				a.target = "PutItem"
				json.Unmarshal(req["Item"], &keySrc)
			case "Update":
				a.target = "UpdateItem"
				json.Unmarshal(req["Key"], &keySrc)
			case "Delete":
				a.target = "DeleteItem"
				json.Unmarshal(req["Key"], &keySrc)
			default:
				return 400, awsError("ValidationException", "txProxy: "+op+" is not supported", nil)
			}
			key, id, err := p.keyOf(h, table, keySrc)
			if err != nil {
				return 400, awsError("ResourceNotFoundException", err.Error(), nil)
			}
			if seen[id] {
				return 400, awsError("ValidationException", "Transaction request cannot include multiple operations on one item", nil)
			}
			seen[id] = true
			a.key = key
		}
		acts = append(acts, a)
	}
	var undos []undo
	rollback := func() {
		for i := len(undos) - 1; i >= 0; i-- {
			u := undos[i]
			var target string
			var req []byte
			if string(u.old) == "null" || len(u.old) == 0 {
				target = "DynamoDB_20120810.DeleteItem"
				req, _ = json.Marshal(map[string]any{"TableName": u.table, "Key": u.key})
			} else {
				target = "DynamoDB_20120810.PutItem"
				req, _ = json.Marshal(map[string]any{"TableName": u.table, "Item": u.old})
			}
			p.call(h, target, req)
		}
	}
	for i, a := range acts {
		a.req["ReturnValues"] = json.RawMessage(`"ALL_OLD"`)
		req, _ := json.Marshal(a.req)
		status, _, out, err := p.call(h, "DynamoDB_20120810."+a.target, req)
		if err == nil && status == 200 {
			var res struct{ Attributes json.RawMessage }
			json.Unmarshal(out, &res)
			old := res.Attributes
			if len(old) == 0 {
				old = json.RawMessage("null")
			}
			undos = append(undos, undo{table: a.table, key: a.key, old: old})
			continue
		}
		rollback()
		if err != nil {
			return 500, awsError("InternalServerError", err.Error(), nil)
		}
		if !bytes.Contains(out, []byte("ConditionalCheckFailedException")) {
			return status, out
		}
		reasons := make([]map[string]string, len(acts))
		for j := range reasons {
			reasons[j] = map[string]string{"Code": "None"}
		}
		reasons[i] = map[string]string{"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
		codes := make([]string, len(reasons))
		for j, r := range reasons {
			codes[j] = r["Code"]
		}
		return 400, awsError("TransactionCanceledException",
			"Transaction cancelled, please refer cancellation reasons for specific reasons ["+strings.Join(codes, ", ")+"]",
			map[string]any{"CancellationReasons": reasons})
	}
	return 200, []byte(`{}`)
}
