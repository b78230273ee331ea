package callback

import (
	"bytes"
	"encoding/json"
)

// Decoding a v1 body into rawBody with encoding/json costs more than everything else the
// webhook does per callback, and the persister does it again. forEachMember splits a
// body that json.Valid has accepted into its top-level members in one pass; rawFields
// then assigns them exactly as json.Unmarshal would (exact key first, else a
// case-insensitive match; the last duplicate wins; values kept as their raw bytes).
// TestRawFieldsMatchesEncodingJSON and FuzzRawFields hold the two to the same result.

// rawFields fills rb from body, which must be a valid JSON object.
func rawFields(body []byte, rb *rawBody) {
	forEachMember(body, func(key, val []byte) {
		if f := rb.field(key); f != nil {
			*f = val
		}
	})
}

// field returns the member of rb a JSON key decodes into, or nil.
func (rb *rawBody) field(key []byte) *json.RawMessage {
	fields := [...]struct {
		name string
		dst  *json.RawMessage
	}{
		{"UserId", &rb.UserId}, {"RoomId", &rb.RoomId}, {"TotalNum", &rb.TotalNum}, {"MediaType", &rb.MediaType},
		{"CallType", &rb.CallType}, {"CallId", &rb.CallId}, {"Role", &rb.Role}, {"Event", &rb.Event},
		{"CallResult", &rb.CallResult}, {"EventTime", &rb.EventTime}, {"StartCallTs", &rb.StartCallTs},
		{"AcceptTs", &rb.AcceptTs}, {"EndTs", &rb.EndTs},
	}
	for _, f := range fields {
		if string(key) == f.name {
			return f.dst
		}
	}
	for _, f := range fields { // no two names fold to each other, so the order is moot
		if bytes.EqualFold(key, []byte(f.name)) {
			return f.dst
		}
	}
	return nil
}

// forEachMember calls fn with each top-level member of a valid JSON object: the key
// unescaped, the value as its raw bytes.
func forEachMember(obj []byte, fn func(key, val []byte)) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] == '}' {
			return
		}
		if obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
		ks := i
		i = skipString(obj, i)
		key := obj[ks+1 : i-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var s string
			if json.Unmarshal(obj[ks:i], &s) != nil {
				return // not reachable for valid JSON
			}
			key = []byte(s)
		}
		i = skipSpace(obj, i)
		i = skipSpace(obj, i+1) // the colon
		vs := i
		i = skipValue(obj, i)
		fn(key, obj[vs:i])
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just after the string starting at b[i] (a quote).
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index just after the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // number, true, false, null
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}
