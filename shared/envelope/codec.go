package envelope

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The webhook encodes and the persister decodes one envelope per callback, so both have
// a fast path for the common case; each produces exactly what encoding/json would
// (Marshal: the same bytes; Unmarshal: the same values and the same acceptance), and
// falls back to encoding/json whenever its input is not the common case. The tests
// (and FuzzUnmarshal) hold the fast paths to that.

// appendEnvelope appends e as json.Marshal would, or reports false when a value needs
// escaping or is not plain compact JSON (the caller then uses json.Marshal).
func appendEnvelope(dst []byte, e *Envelope) ([]byte, bool) {
	if e.Query == nil || !plainBody(e.Body) {
		return dst, false
	}
	for _, s := range []string{e.RequestID, e.CallID, e.EventKey} {
		if !plainString(s) {
			return dst, false
		}
	}
	keys := make([]string, 0, 8)
	for k, v := range e.Query {
		if !plainString(k) || !plainString(v) {
			return dst, false
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, int64(e.V), 10)
	dst = append(dst, `,"receivedAt":`...)
	dst = strconv.AppendInt(dst, e.ReceivedAt, 10)
	dst = appendField(dst, `,"requestId":`, e.RequestID)
	dst = append(dst, `,"sdkAppId":`...)
	dst = strconv.AppendUint(dst, e.SDKAppID, 10)
	dst = appendField(dst, `,"callId":`, e.CallID)
	dst = appendField(dst, `,"eventKey":`, e.EventKey)
	dst = append(dst, `,"query":{`...)
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, k...)
		dst = append(dst, `":"`...)
		dst = append(dst, e.Query[k]...)
		dst = append(dst, '"')
	}
	dst = append(dst, `},"body":`...)
	var buf bytes.Buffer
	buf.Grow(len(e.Body))
	if json.Compact(&buf, e.Body) != nil { // not JSON: let json.Marshal report it
		return dst, false
	}
	dst = append(dst, buf.Bytes()...)
	return append(dst, '}'), true
}

func appendField(dst []byte, name, s string) []byte {
	dst = append(dst, name...)
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// plainString: printable ASCII that encoding/json writes as is (no quote, backslash or
// HTML-sensitive character, which it escapes).
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// plainBody: a body that encoding/json would only compact — nothing it escapes for HTML
// (<, >, &, U+2028, U+2029).
func plainBody(b []byte) bool {
	return len(b) > 0 && bytes.IndexAny(b, "<>&") < 0 && !bytes.Contains(b, []byte("\u2028")) && !bytes.Contains(b, []byte("\u2029"))
}

// decodeFast decodes the layout appendEnvelope writes. ok is false for anything else —
// other key orders, whitespace, escapes, non-integer numbers — which the caller then
// hands to encoding/json; when ok is true, e is what json.Unmarshal would produce.
func decodeFast(b []byte) (e Envelope, ok bool) {
	p := parser{b: b}
	if !p.lit(`{"v":`) || !p.int(func(v int64) bool { e.V = int(v); return int64(e.V) == v }) ||
		!p.lit(`,"receivedAt":`) || !p.int(func(v int64) bool { e.ReceivedAt = v; return true }) ||
		!p.lit(`,"requestId":`) || !p.str(&e.RequestID) ||
		!p.lit(`,"sdkAppId":`) || !p.uint(&e.SDKAppID) ||
		!p.lit(`,"callId":`) || !p.str(&e.CallID) ||
		!p.lit(`,"eventKey":`) || !p.str(&e.EventKey) ||
		!p.lit(`,"query":{`) {
		return e, false
	}
	e.Query = make(map[string]string, 8)
	for first := true; ; first = false {
		if p.lit(`}`) {
			break
		}
		if !first && !p.lit(`,`) {
			return e, false
		}
		var k, v string
		if !p.str(&k) || !p.lit(`:`) || !p.str(&v) {
			return e, false
		}
		if _, dup := e.Query[k]; dup { // encoding/json keeps the last; leave it to it
			return e, false
		}
		e.Query[k] = v
	}
	if !p.lit(`,"body":`) || len(p.b) < 2 || p.b[len(p.b)-1] != '}' {
		return e, false
	}
	body := p.b[:len(p.b)-1]
	if len(body) == 0 || (body[0] != '{' && body[0] != '[' && body[0] != '"') || // scalars: leave them to encoding/json
		strings.IndexByte(" \t\r\n", body[len(body)-1]) >= 0 || // encoding/json would trim it
		!json.Valid(body) {
		return e, false
	}
	e.Body = append(json.RawMessage(nil), body...)
	return e, true
}

type parser struct{ b []byte }

func (p *parser) lit(s string) bool {
	if !bytes.HasPrefix(p.b, []byte(s)) {
		return false
	}
	p.b = p.b[len(s):]
	return true
}

// str reads a string without escapes whose bytes encoding/json would keep as they are
// (valid UTF-8, no control characters).
func (p *parser) str(out *string) bool {
	if len(p.b) == 0 || p.b[0] != '"' {
		return false
	}
	end := bytes.IndexByte(p.b[1:], '"')
	if end < 0 {
		return false
	}
	s := p.b[1 : 1+end]
	for _, c := range s {
		if c < 0x20 || c == '\\' {
			return false
		}
	}
	if !utf8.Valid(s) {
		return false
	}
	*out = string(s)
	p.b = p.b[2+end:]
	return true
}

// digits reads an optionally negative run of decimal digits without a leading zero
// (JSON's integer syntax).
func (p *parser) digits(neg bool) ([]byte, bool) {
	i := 0
	if neg && len(p.b) > 0 && p.b[0] == '-' {
		i = 1
	}
	j := i
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		j++
	}
	if j == i || (p.b[i] == '0' && j > i+1) || (j < len(p.b) && (p.b[j] == '.' || p.b[j] == 'e' || p.b[j] == 'E')) {
		return nil, false
	}
	d := p.b[:j]
	p.b = p.b[j:]
	return d, true
}

func (p *parser) int(set func(int64) bool) bool {
	d, ok := p.digits(true)
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(string(d), 10, 64)
	return err == nil && set(v)
}

func (p *parser) uint(out *uint64) bool {
	d, ok := p.digits(false)
	if !ok {
		return false
	}
	v, err := strconv.ParseUint(string(d), 10, 64)
	*out = v
	return err == nil
}
