package testenv

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Template is a parsed SAM/CloudFormation template. Short-form tags (!Ref,
// !GetAtt, !Sub, !If, …) are converted to their long form ({"Ref": x},
// {"Fn::GetAtt": [res, attr]}, {"Fn::Sub": …}, …) in every map[string]any
// value; the yaml nodes keep the original tags. Unknown tags "!Foo" become
// {"Fn::Foo": …}, so nothing in the template makes parsing fail.
type Template struct {
	Path string
	Doc  *yaml.Node // the top-level mapping node

	FormatVersion string
	Transform     any // string or []any
	Description   string
	Parameters    map[string]Parameter
	Mappings      map[string]any
	Conditions    map[string]any
	Globals       map[string]any // SAM Globals section, not applied to resources
	Resources     map[string]Resource
	Outputs       map[string]any
	Order         []string // resource logical ids in file order
}

// Parameter is an entry of the Parameters section.
type Parameter struct {
	Type          string
	Default       any
	HasDefault    bool
	AllowedValues []any
	Raw           map[string]any
}

// Resource is an entry of the Resources section.
type Resource struct {
	LogicalID      string
	Type           string
	Properties     map[string]any // long-form intrinsics; empty map when absent
	PropertiesNode *yaml.Node     // the Properties mapping node with its tags; nil when absent
	Condition      string
	DependsOn      []string
	Raw            map[string]any // the whole resource (Type, Properties, Metadata, DeletionPolicy, …)
	Node           *yaml.Node     // the resource mapping node
	Line           int
}

// TemplatePath resolves "" to <repo root>/template.yaml; other paths are returned as is.
func TemplatePath(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "template.yaml"), nil
}

// LoadTemplate reads and parses a template; path "" means the repo's template.yaml.
func LoadTemplate(path string) (*Template, error) {
	path, err := TemplatePath(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tpl, err := ParseTemplate(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tpl.Path = path
	return tpl, nil
}

// ParseTemplate parses template YAML (JSON is YAML too).
func ParseTemplate(data []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, fmt.Errorf("empty template")
		}
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: template is not a mapping", root.Line)
	}
	tpl := &Template{
		Doc:        root,
		Parameters: map[string]Parameter{},
		Resources:  map[string]Resource{},
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i].Value, root.Content[i+1]
		v, err := NodeValue(val)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		switch key {
		case "AWSTemplateFormatVersion":
			tpl.FormatVersion = fmt.Sprint(v)
		case "Transform":
			tpl.Transform = v
		case "Description":
			tpl.Description, _ = v.(string)
		case "Mappings":
			tpl.Mappings, _ = v.(map[string]any)
		case "Conditions":
			tpl.Conditions, _ = v.(map[string]any)
		case "Globals":
			tpl.Globals, _ = v.(map[string]any)
		case "Outputs":
			tpl.Outputs, _ = v.(map[string]any)
		case "Parameters":
			m, _ := v.(map[string]any)
			for name, raw := range m {
				pm, _ := raw.(map[string]any)
				p := Parameter{Raw: pm}
				p.Type, _ = pm["Type"].(string)
				p.Default, p.HasDefault = pm["Default"]
				p.AllowedValues, _ = pm["AllowedValues"].([]any)
				tpl.Parameters[name] = p
			}
		case "Resources":
			if err := tpl.parseResources(resolveAlias(val)); err != nil {
				return nil, err
			}
		}
	}
	return tpl, nil
}

func (tpl *Template) parseResources(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: Resources is not a mapping", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		id, rn := n.Content[i].Value, resolveAlias(n.Content[i+1])
		v, err := NodeValue(rn)
		if err != nil {
			return fmt.Errorf("Resources.%s: %w", id, err)
		}
		raw, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("line %d: resource %s is not a mapping", rn.Line, id)
		}
		r := Resource{LogicalID: id, Raw: raw, Node: rn, Line: rn.Line, Properties: map[string]any{}}
		r.Type, _ = raw["Type"].(string)
		if p, ok := raw["Properties"].(map[string]any); ok {
			r.Properties = p
		}
		r.PropertiesNode = mappingValue(rn, "Properties")
		r.Condition, _ = raw["Condition"].(string)
		switch d := raw["DependsOn"].(type) {
		case string:
			r.DependsOn = []string{d}
		case []any:
			for _, x := range d {
				if s, ok := x.(string); ok {
					r.DependsOn = append(r.DependsOn, s)
				}
			}
		}
		if _, dup := tpl.Resources[id]; dup {
			return fmt.Errorf("line %d: duplicate resource %s", rn.Line, id)
		}
		tpl.Resources[id] = r
		tpl.Order = append(tpl.Order, id)
	}
	return nil
}

// Resource returns the resource with that logical id, checking its type when
// typ is not "".
func (tpl *Template) Resource(logicalID, typ string) (Resource, error) {
	r, ok := tpl.Resources[logicalID]
	if !ok {
		ids := append([]string(nil), tpl.Order...)
		sort.Strings(ids)
		return Resource{}, fmt.Errorf("template %s has no resource %q (resources: %s)", tpl.Path, logicalID, strings.Join(ids, ", "))
	}
	if typ != "" && r.Type != typ {
		return Resource{}, fmt.Errorf("template %s: resource %s is %s, not %s", tpl.Path, logicalID, r.Type, typ)
	}
	return r, nil
}

// ResourcesOfType returns the logical ids of all resources of a type, in file order.
func (tpl *Template) ResourcesOfType(typ string) []string {
	var ids []string
	for _, id := range tpl.Order {
		if tpl.Resources[id].Type == typ {
			ids = append(ids, id)
		}
	}
	return ids
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return resolveAlias(n.Content[i+1])
		}
	}
	return nil
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// NodeValue converts a yaml node to plain Go values (map[string]any, []any,
// string, int64, float64, bool, nil), turning CloudFormation short-form tags
// into long-form intrinsic maps. Timestamps stay strings.
func NodeValue(n *yaml.Node) (any, error) {
	n = resolveAlias(n)
	if n == nil {
		return nil, nil
	}
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return NodeValue(n.Content[0])
	case yaml.ScalarNode:
		if isCustomTag(n.Tag) {
			v = n.Value
			break
		}
		switch n.ShortTag() {
		case "!!null":
			v = nil
		case "!!bool", "!!int", "!!float":
			if err := n.Decode(&v); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
		default: // !!str, !!timestamp, !!binary …
			v = n.Value
		}
	case yaml.SequenceNode:
		list := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			x, err := NodeValue(c)
			if err != nil {
				return nil, err
			}
			list = append(list, x)
		}
		v = list
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			x, err := NodeValue(val)
			if err != nil {
				return nil, err
			}
			if k.ShortTag() == "!!merge" {
				merge := func(src any) {
					if sm, ok := src.(map[string]any); ok {
						for mk, mv := range sm {
							if _, exists := m[mk]; !exists {
								m[mk] = mv
							}
						}
					}
				}
				if l, ok := x.([]any); ok {
					for _, e := range l {
						merge(e)
					}
				} else {
					merge(x)
				}
				continue
			}
			m[k.Value] = x
		}
		v = m
	default:
		return nil, fmt.Errorf("line %d: unexpected yaml node kind %v", n.Line, n.Kind)
	}
	if isCustomTag(n.Tag) {
		return shortForm(n.Tag, v), nil
	}
	return v, nil
}

func isCustomTag(tag string) bool {
	return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!")
}

// shortForm maps "!Ref x" to {"Ref": x}, "!GetAtt a.b" to {"Fn::GetAtt": [a, b]},
// "!Condition c" to {"Condition": c} and any other "!Name v" to {"Fn::Name": v}.
func shortForm(tag string, v any) any {
	name := strings.TrimPrefix(tag, "!")
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: v}
	case "GetAtt":
		if s, ok := v.(string); ok {
			if res, attr, found := strings.Cut(s, "."); found {
				v = []any{res, attr}
			}
		}
	}
	return map[string]any{"Fn::" + name: v}
}

// noValue is what {"Ref": "AWS::NoValue"} resolves to; Resolve drops it from
// maps and lists.
type noValue struct{}

// NoValue is the resolved value of AWS::NoValue (only seen by callbacks).
var NoValue any = noValue{}

// DefaultPseudoParameters are used by Resolver unless overridden.
var DefaultPseudoParameters = map[string]any{
	"AWS::AccountId":        "123456789012",
	"AWS::Region":           Region,
	"AWS::Partition":        "aws",
	"AWS::URLSuffix":        "amazonaws.com",
	"AWS::StackName":        "callkit-records-test",
	"AWS::StackId":          "arn:aws:cloudformation:us-east-1:123456789012:stack/callkit-records-test/00000000-0000-0000-0000-000000000000",
	"AWS::NotificationARNs": []any{},
}

// Resolver evaluates intrinsic functions in long-form values (as produced by
// NodeValue): Ref, Fn::GetAtt, Fn::Sub, Fn::If, Fn::Join, Fn::Select,
// Fn::Split, Fn::FindInMap, Fn::Base64, Fn::GetAZs, Fn::Length, Fn::ToJsonString,
// Fn::Equals/Not/And/Or and Condition. References to resources go to the Ref
// and GetAtt callbacks (an error when nil).
type Resolver struct {
	Template   *Template
	Parameters map[string]any // override parameter defaults
	Pseudo     map[string]any // override DefaultPseudoParameters
	Ref        func(logicalID string) (any, error)
	GetAtt     func(logicalID, attribute string) (any, error)

	conds map[string]bool
	busy  map[string]bool
}

// NewResolver returns a Resolver for tpl with parameter defaults and the default
// pseudo parameters.
func NewResolver(tpl *Template) *Resolver { return &Resolver{Template: tpl} }

// Resolve returns v with every intrinsic function evaluated.
func (r *Resolver) Resolve(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return r.intrinsic(k, arg)
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			y, err := r.Resolve(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if y != NoValue {
				out[k] = y
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for i, e := range x {
			y, err := r.Resolve(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			if y != NoValue {
				out = append(out, y)
			}
		}
		return out, nil
	default:
		return v, nil
	}
}

// Condition evaluates a named condition of the Conditions section.
func (r *Resolver) Condition(name string) (bool, error) {
	if b, ok := r.conds[name]; ok {
		return b, nil
	}
	if r.busy[name] {
		return false, fmt.Errorf("condition %s refers to itself", name)
	}
	var expr any
	ok := false
	if r.Template != nil {
		expr, ok = r.Template.Conditions[name]
	}
	if !ok {
		return false, fmt.Errorf("unknown condition %q", name)
	}
	if r.busy == nil {
		r.busy = map[string]bool{}
	}
	r.busy[name] = true
	b, err := r.condValue(expr)
	delete(r.busy, name)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	if r.conds == nil {
		r.conds = map[string]bool{}
	}
	r.conds[name] = b
	return b, nil
}

// condValue evaluates a condition expression ({"Condition": name} allowed).
func (r *Resolver) condValue(v any) (bool, error) {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		if name, ok := m["Condition"].(string); ok {
			return r.Condition(name)
		}
	}
	x, err := r.Resolve(v)
	if err != nil {
		return false, err
	}
	switch b := x.(type) {
	case bool:
		return b, nil
	case string:
		if pb, err := strconv.ParseBool(b); err == nil {
			return pb, nil
		}
	}
	return false, fmt.Errorf("condition value %v (%T) is not a boolean", x, x)
}

func (r *Resolver) intrinsic(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		name, err := r.str(arg)
		if err != nil {
			return nil, fmt.Errorf("Ref: %w", err)
		}
		return r.ref(name)
	case "Fn::GetAtt":
		var parts []any
		switch a := arg.(type) {
		case []any:
			parts = a
		case string:
			res, attr, _ := strings.Cut(a, ".")
			parts = []any{res, attr}
		}
		if len(parts) != 2 {
			return nil, fmt.Errorf("Fn::GetAtt: want [resource, attribute], got %v", arg)
		}
		res, err := r.str(parts[0])
		if err != nil {
			return nil, fmt.Errorf("Fn::GetAtt: %w", err)
		}
		attr, err := r.str(parts[1])
		if err != nil {
			return nil, fmt.Errorf("Fn::GetAtt: %w", err)
		}
		if r.GetAtt == nil {
			return nil, fmt.Errorf("Fn::GetAtt %s.%s: resource attributes are not available here", res, attr)
		}
		return r.GetAtt(res, attr)
	case "Fn::Sub":
		return r.sub(arg)
	case "Fn::If":
		a, ok := arg.([]any)
		if !ok || len(a) != 3 {
			return nil, fmt.Errorf("Fn::If: want [condition, then, else], got %v", arg)
		}
		name, err := r.str(a[0])
		if err != nil {
			return nil, fmt.Errorf("Fn::If: %w", err)
		}
		b, err := r.Condition(name)
		if err != nil {
			return nil, fmt.Errorf("Fn::If: %w", err)
		}
		if b {
			return r.Resolve(a[1])
		}
		return r.Resolve(a[2])
	case "Fn::Equals":
		a, err := r.list(arg, 2, fn)
		if err != nil {
			return nil, err
		}
		return fmt.Sprint(a[0]) == fmt.Sprint(a[1]), nil
	case "Fn::Not", "Fn::And", "Fn::Or":
		a, ok := arg.([]any)
		if !ok || len(a) == 0 || (fn == "Fn::Not" && len(a) != 1) {
			return nil, fmt.Errorf("%s: bad arguments %v", fn, arg)
		}
		res := fn == "Fn::And"
		for _, e := range a {
			b, err := r.condValue(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fn, err)
			}
			switch fn {
			case "Fn::Not":
				return !b, nil
			case "Fn::And":
				res = res && b
			case "Fn::Or":
				res = res || b
			}
		}
		return res, nil
	case "Fn::Join":
		a, err := r.list(arg, 2, fn)
		if err != nil {
			return nil, err
		}
		items, ok := a[1].([]any)
		if !ok {
			return nil, fmt.Errorf("Fn::Join: second argument is not a list: %v", a[1])
		}
		ss := make([]string, len(items))
		for i, it := range items {
			ss[i] = scalarString(it)
		}
		return strings.Join(ss, scalarString(a[0])), nil
	case "Fn::Select":
		a, err := r.list(arg, 2, fn)
		if err != nil {
			return nil, err
		}
		idx, err := strconv.Atoi(scalarString(a[0]))
		if err != nil {
			return nil, fmt.Errorf("Fn::Select: index %v: %w", a[0], err)
		}
		items, ok := a[1].([]any)
		if !ok || idx < 0 || idx >= len(items) {
			return nil, fmt.Errorf("Fn::Select: index %d out of range of %v", idx, a[1])
		}
		return items[idx], nil
	case "Fn::Split":
		a, err := r.list(arg, 2, fn)
		if err != nil {
			return nil, err
		}
		parts := strings.Split(scalarString(a[1]), scalarString(a[0]))
		out := make([]any, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out, nil
	case "Fn::FindInMap":
		a, ok := arg.([]any)
		if !ok || len(a) < 3 {
			return nil, fmt.Errorf("Fn::FindInMap: want [map, key, key], got %v", arg)
		}
		keys := make([]string, 3)
		for i := 0; i < 3; i++ {
			x, err := r.Resolve(a[i])
			if err != nil {
				return nil, fmt.Errorf("Fn::FindInMap: %w", err)
			}
			keys[i] = scalarString(x)
		}
		var cur any = map[string]any(nil)
		if r.Template != nil {
			cur = r.Template.Mappings[keys[0]]
		}
		for _, k := range keys[1:] {
			m, _ := cur.(map[string]any)
			cur = m[k]
		}
		if cur == nil {
			if len(a) == 4 { // Fn::FindInMap with {DefaultValue: …} (LanguageExtensions)
				if dm, ok := a[3].(map[string]any); ok {
					if dv, ok := dm["DefaultValue"]; ok {
						return r.Resolve(dv)
					}
				}
			}
			return nil, fmt.Errorf("Fn::FindInMap: no %s/%s/%s in Mappings", keys[0], keys[1], keys[2])
		}
		return r.Resolve(cur)
	case "Fn::Base64":
		x, err := r.Resolve(arg)
		if err != nil {
			return nil, err
		}
		return base64.StdEncoding.EncodeToString([]byte(scalarString(x))), nil
	case "Fn::GetAZs":
		region := fmt.Sprint(r.pseudo("AWS::Region"))
		return []any{region + "a", region + "b", region + "c"}, nil
	case "Fn::Length":
		x, err := r.Resolve(arg)
		if err != nil {
			return nil, err
		}
		l, ok := x.([]any)
		if !ok {
			return nil, fmt.Errorf("Fn::Length: not a list: %v", x)
		}
		return int64(len(l)), nil
	case "Fn::ToJsonString":
		x, err := r.Resolve(arg)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(x)
		if err != nil {
			return nil, fmt.Errorf("Fn::ToJsonString: %w", err)
		}
		return string(b), nil
	}
	return nil, fmt.Errorf("unsupported intrinsic function %s", fn)
}

func (r *Resolver) ref(name string) (any, error) {
	if strings.HasPrefix(name, "AWS::") {
		if name == "AWS::NoValue" {
			return NoValue, nil
		}
		if v := r.pseudo(name); v != nil {
			return v, nil
		}
		return nil, fmt.Errorf("unknown pseudo parameter %s", name)
	}
	if v, ok := r.Parameters[name]; ok {
		return v, nil
	}
	if r.Template != nil {
		if p, ok := r.Template.Parameters[name]; ok {
			if !p.HasDefault {
				return nil, fmt.Errorf("parameter %s has no Default; pass it in Resolver.Parameters", name)
			}
			if strings.HasPrefix(p.Type, "List<") || p.Type == "CommaDelimitedList" {
				if s, ok := p.Default.(string); ok {
					var out []any
					for _, e := range strings.Split(s, ",") {
						out = append(out, strings.TrimSpace(e))
					}
					return out, nil
				}
			}
			return p.Default, nil
		}
	}
	if r.Ref == nil {
		return nil, fmt.Errorf("Ref %s: not a parameter, and resource references are not available here", name)
	}
	return r.Ref(name)
}

func (r *Resolver) pseudo(name string) any {
	if v, ok := r.Pseudo[name]; ok {
		return v
	}
	return DefaultPseudoParameters[name]
}

// sub implements Fn::Sub: "${Param}", "${Res}", "${Res.Attr}", "${AWS::Region}",
// "${!Literal}" and the [template, {var: value}] form.
func (r *Resolver) sub(arg any) (any, error) {
	var tmpl string
	vars := map[string]any{}
	switch a := arg.(type) {
	case string:
		tmpl = a
	case []any:
		if len(a) != 2 {
			return nil, fmt.Errorf("Fn::Sub: want [string, map], got %v", arg)
		}
		s, ok := a[0].(string)
		if !ok {
			return nil, fmt.Errorf("Fn::Sub: template is not a string: %v", a[0])
		}
		tmpl = s
		m, _ := a[1].(map[string]any)
		for k, v := range m {
			x, err := r.Resolve(v)
			if err != nil {
				return nil, fmt.Errorf("Fn::Sub variable %s: %w", k, err)
			}
			vars[k] = x
		}
	default:
		return nil, fmt.Errorf("Fn::Sub: bad argument %v", arg)
	}
	var b strings.Builder
	for {
		i := strings.Index(tmpl, "${")
		if i < 0 {
			b.WriteString(tmpl)
			break
		}
		b.WriteString(tmpl[:i])
		j := strings.Index(tmpl[i:], "}")
		if j < 0 {
			return nil, fmt.Errorf("Fn::Sub: unterminated ${ in %q", tmpl)
		}
		name := tmpl[i+2 : i+j]
		tmpl = tmpl[i+j+1:]
		if strings.HasPrefix(name, "!") {
			b.WriteString("${" + name[1:] + "}")
			continue
		}
		var val any
		var err error
		if v, ok := vars[name]; ok {
			val = v
		} else if res, attr, dotted := strings.Cut(name, "."); dotted && !strings.HasPrefix(name, "AWS::") {
			if r.GetAtt == nil {
				err = fmt.Errorf("${%s}: resource attributes are not available here", name)
			} else {
				val, err = r.GetAtt(res, attr)
			}
		} else {
			val, err = r.ref(name)
		}
		if err != nil {
			return nil, fmt.Errorf("Fn::Sub: %w", err)
		}
		b.WriteString(scalarString(val))
	}
	return b.String(), nil
}

func (r *Resolver) list(arg any, n int, fn string) ([]any, error) {
	a, ok := arg.([]any)
	if !ok || len(a) != n {
		return nil, fmt.Errorf("%s: want %d arguments, got %v", fn, n, arg)
	}
	out := make([]any, n)
	for i, e := range a {
		x, err := r.Resolve(e)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		out[i] = x
	}
	return out, nil
}

func (r *Resolver) str(v any) (string, error) {
	x, err := r.Resolve(v)
	if err != nil {
		return "", err
	}
	s, ok := x.(string)
	if !ok {
		return "", fmt.Errorf("want a string, got %v (%T)", x, x)
	}
	return s, nil
}

// scalarString formats a resolved scalar the way CloudFormation would.
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}
