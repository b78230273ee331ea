// Package replay reads callbacks from the repository's events/ fixtures or from
// captures, and posts them to a webhook the way Tencent does, reporting what the
// webhook answered to each.
//
// Inputs (files, or directories walked in name order):
//   - an index (events/tencent/*/index.json): a JSON array of {"file","query"}; the
//     body is the named file, byte for byte;
//   - captured callbacks: JSON objects {"query": {...} | "a=b&…", "body": {...} | "raw"},
//     one per line or in an array — queue envelopes (shared/envelope) have this shape;
//   - API Gateway HTTP API requests (events/apigw): rawQueryString and body;
//   - SQS events (events/sqs): each record's body is an envelope.
//
// In a directory, files an index names are sent through the index only. Sign and
// RequestTime are dropped from every query (they would be stale); the sender signs anew
// when given the callback token.
package replay

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// MaxFileBytes bounds one input file.
const MaxFileBytes = 256 << 20

// Callback is one request to replay.
type Callback struct {
	Source string // file and position, for the report
	Query  url.Values
	Body   []byte
}

// Load reads every callback of paths, in order. Any unreadable or unrecognised input is
// an error: a replay is all or nothing until it starts sending.
func Load(paths []string) ([]Callback, error) {
	var out []Callback
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		var cbs []Callback
		if fi.IsDir() {
			cbs, err = loadDir(p)
		} else {
			cbs, err = loadFile(p)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, cbs...)
	}
	return out, nil
}

func loadDir(dir string) ([]Callback, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".json", ".jsonl", ".ndjson":
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	// Bodies an index names have no query of their own: they go through the index.
	named := map[string]bool{}
	for _, f := range files {
		if filepath.Base(f) != "index.json" {
			continue
		}
		entries, err := readIndex(f)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			named[filepath.Join(filepath.Dir(f), e.File)] = true
		}
	}
	var out []Callback
	for _, f := range files {
		if named[f] {
			continue
		}
		cbs, err := loadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, cbs...)
	}
	return out, nil
}

type indexEntry struct {
	File  string          `json:"file"`
	Query json.RawMessage `json:"query"`
}

func readIndex(path string) ([]indexEntry, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var entries []indexEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("%s: not an index (a JSON array of {file, query}): %w", path, err)
	}
	for i, e := range entries {
		if !filepath.IsLocal(e.File) {
			return nil, fmt.Errorf("%s: entry %d: file must be a relative path inside the index's directory", path, i+1)
		}
	}
	return entries, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d MiB", path, MaxFileBytes>>20)
	}
	return b, nil
}

// loadFile reads one file of concatenated JSON values (one value, an array, or lines).
func loadFile(path string) ([]Callback, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var out []Callback
	for n := 1; ; n++ {
		var v json.RawMessage
		if err := dec.Decode(&v); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: value %d: %w", path, n, err)
		}
		src := path
		if n > 1 || dec.More() {
			src = fmt.Sprintf("%s#%d", path, n)
		}
		cbs, err := fromValue(path, src, v)
		if err != nil {
			return nil, err
		}
		out = append(out, cbs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no callbacks", path)
	}
	return out, nil
}

func fromValue(path, src string, v json.RawMessage) ([]Callback, error) {
	if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		var out []Callback
		for i, it := range items {
			cbs, err := fromObject(path, fmt.Sprintf("%s#%d", src, i+1), it)
			if err != nil {
				return nil, err
			}
			out = append(out, cbs...)
		}
		return out, nil
	}
	return fromObject(path, src, v)
}

func fromObject(path, src string, v json.RawMessage) ([]Callback, error) {
	var o map[string]json.RawMessage
	if err := json.Unmarshal(v, &o); err != nil {
		return nil, fmt.Errorf("%s: expected a JSON object: %w", src, err)
	}
	switch {
	case o["Records"] != nil:
		return fromSQSEvent(src, o["Records"])
	case o["rawQueryString"] != nil || o["requestContext"] != nil:
		cb, err := fromAPIGateway(src, o)
		return []Callback{cb}, err
	case o["file"] != nil && o["query"] != nil && o["body"] == nil:
		var e indexEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		return fromIndexEntry(path, src, e)
	case o["query"] != nil && o["body"] != nil:
		cb, err := fromCaptured(src, o["query"], o["body"])
		return []Callback{cb}, err
	}
	return nil, fmt.Errorf("%s: not a callback: expected {query, body}, a queue envelope, an index entry {file, query}, "+
		"an API Gateway request or an SQS event (a bare callback body has no query parameters)", src)
}

func fromIndexEntry(path, src string, e indexEntry) ([]Callback, error) {
	if !filepath.IsLocal(e.File) {
		return nil, fmt.Errorf("%s: file must be a relative path inside the index's directory", src)
	}
	q, err := parseQuery(e.Query)
	if err != nil {
		return nil, fmt.Errorf("%s: query: %w", src, err)
	}
	body, err := readFile(filepath.Join(filepath.Dir(path), e.File))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return []Callback{{Source: src + " " + e.File, Query: q, Body: body}}, nil
}

func fromCaptured(src string, query, body json.RawMessage) (Callback, error) {
	q, err := parseQuery(query)
	if err != nil {
		return Callback{}, fmt.Errorf("%s: query: %w", src, err)
	}
	b := []byte(bytes.TrimSpace(body))
	if len(b) > 0 && b[0] == '"' { // the raw body as a string
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return Callback{}, fmt.Errorf("%s: body: %w", src, err)
		}
		b = []byte(s)
	}
	return Callback{Source: src, Query: q, Body: b}, nil
}

func fromAPIGateway(src string, o map[string]json.RawMessage) (Callback, error) {
	var req struct {
		RawQueryString  string `json:"rawQueryString"`
		Body            string `json:"body"`
		IsBase64Encoded bool   `json:"isBase64Encoded"`
	}
	b, _ := json.Marshal(o)
	if err := json.Unmarshal(b, &req); err != nil {
		return Callback{}, fmt.Errorf("%s: API Gateway request: %w", src, err)
	}
	q, err := url.ParseQuery(req.RawQueryString)
	if err != nil {
		return Callback{}, fmt.Errorf("%s: rawQueryString: %w", src, err)
	}
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			return Callback{}, fmt.Errorf("%s: body: %w", src, err)
		}
	}
	return Callback{Source: src, Query: clean(q), Body: body}, nil
}

func fromSQSEvent(src string, records json.RawMessage) ([]Callback, error) {
	var rs []struct {
		MessageID string `json:"messageId"`
		Body      string `json:"body"`
	}
	if err := json.Unmarshal(records, &rs); err != nil {
		return nil, fmt.Errorf("%s: SQS event: %w", src, err)
	}
	out := make([]Callback, 0, len(rs))
	for i, r := range rs {
		rsrc := fmt.Sprintf("%s record %d", src, i+1)
		var env map[string]json.RawMessage
		if err := json.Unmarshal([]byte(r.Body), &env); err != nil || env["query"] == nil || env["body"] == nil {
			return nil, fmt.Errorf("%s: the body is not a queue envelope", rsrc)
		}
		cb, err := fromCaptured(rsrc, env["query"], env["body"])
		if err != nil {
			return nil, err
		}
		out = append(out, cb)
	}
	return out, nil
}

// parseQuery accepts {"k":"v"|number|["v",…]} or "k=v&…".
func parseQuery(raw json.RawMessage) (url.Values, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		q, err := url.ParseQuery(strings.TrimPrefix(s, "?"))
		return clean(q), err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errors.New("must be an object of parameters or a query string")
	}
	q := url.Values{}
	for k, v := range m {
		var s string
		var list []string
		switch {
		case json.Unmarshal(v, &s) == nil:
			q.Add(k, s)
		case json.Unmarshal(v, &list) == nil:
			q[k] = append(q[k], list...)
		default:
			var n json.Number
			if err := json.Unmarshal(v, &n); err != nil {
				return nil, fmt.Errorf("%s: must be a string or a number", k)
			}
			q.Add(k, n.String())
		}
	}
	return clean(q), nil
}

// clean drops the signature parameters: a captured Sign is stale by now.
func clean(q url.Values) url.Values {
	q.Del("Sign")
	q.Del("RequestTime")
	return q
}
