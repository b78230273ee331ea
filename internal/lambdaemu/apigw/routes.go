package apigw

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// route is one parsed route template, e.g. "GET /v1/calls/{callId}".
type route struct {
	key      string // the routeKey reported to the function
	method   string // upper case, or "ANY"
	segments []segment
	greedy   bool // last segment is {name+}
	isDef    bool // $default
}

type segment struct {
	literal string
	param   string // non-empty for {param} / {param+}
}

// parseRoute parses "METHOD /path" (METHOD may be ANY) or "$default".
func parseRoute(tmpl string) (route, error) {
	tmpl = strings.TrimSpace(tmpl)
	if tmpl == "$default" {
		return route{key: tmpl, isDef: true}, nil
	}
	method, path, ok := strings.Cut(tmpl, " ")
	if !ok || method == "" || !strings.HasPrefix(path, "/") {
		return route{}, fmt.Errorf("apigw: route %q: want \"METHOD /path\" or \"$default\"", tmpl)
	}
	method = strings.ToUpper(method)
	r := route{key: method + " " + path, method: method}
	if path == "/" {
		return r, nil
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	seen := map[string]bool{}
	for i, p := range parts {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			name := p[1 : len(p)-1]
			if plus, ok := strings.CutSuffix(name, "+"); ok {
				if i != len(parts)-1 {
					return route{}, fmt.Errorf("apigw: route %q: greedy variable must be the last segment", tmpl)
				}
				name = plus
				r.greedy = true
			}
			if name == "" || seen[name] || strings.ContainsAny(name, "{}/") {
				return route{}, fmt.Errorf("apigw: route %q: bad path variable %q", tmpl, p)
			}
			seen[name] = true
			r.segments = append(r.segments, segment{param: name})
			continue
		}
		if p == "" || strings.ContainsAny(p, "{}") {
			return route{}, fmt.Errorf("apigw: route %q: bad segment %q", tmpl, p)
		}
		r.segments = append(r.segments, segment{literal: p})
	}
	return r, nil
}

// match reports whether r matches method and the (escaped) path segments,
// returning the decoded path parameters.
func (r *route) match(method string, segs []string) (map[string]string, bool) {
	if r.isDef {
		return nil, true
	}
	if r.method != "ANY" && r.method != method {
		return nil, false
	}
	n := len(r.segments)
	if r.greedy {
		if len(segs) < n { // greedy needs at least one segment
			return nil, false
		}
	} else if len(segs) != n {
		return nil, false
	}
	var params map[string]string
	for i, s := range r.segments {
		if s.param == "" {
			if unescape(segs[i]) != s.literal {
				return nil, false
			}
			continue
		}
		v := segs[i]
		if r.greedy && i == n-1 {
			v = strings.Join(segs[i:], "/")
		}
		if v == "" {
			return nil, false
		}
		if params == nil {
			params = map[string]string{}
		}
		params[s.param] = unescape(v)
	}
	return params, true
}

// better reports whether a is a more specific match than b, following API
// Gateway's order: a full match beats a greedy match beats $default; among
// those, literal segments beat variables (left to right), then a specific
// method beats ANY.
func better(a, b *route) bool {
	if a.isDef != b.isDef {
		return !a.isDef
	}
	if a.greedy != b.greedy {
		return !a.greedy
	}
	for i := 0; i < len(a.segments) && i < len(b.segments); i++ {
		al, bl := a.segments[i].param == "", b.segments[i].param == ""
		if al != bl {
			return al
		}
	}
	if len(a.segments) != len(b.segments) {
		return len(a.segments) > len(b.segments)
	}
	return a.method != "ANY" && b.method == "ANY"
}

// selectRoute picks the best route for the request.
func selectRoute(routes []route, r *http.Request) (*route, map[string]string, bool) {
	segs := splitPath(r.URL.EscapedPath())
	var best *route
	var bestParams map[string]string
	for i := range routes {
		rt := &routes[i]
		params, ok := rt.match(r.Method, segs)
		if !ok {
			continue
		}
		if best == nil || better(rt, best) {
			best, bestParams = rt, params
		}
	}
	return best, bestParams, best != nil
}

func splitPath(p string) []string {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}
