package stack

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/callkit-records/callkit-records/internal/testenv"
)

// fnSpec is what template.yaml says about one function.
type fnSpec struct {
	Env      map[string]string // Globals + the function's Environment.Variables, resolved
	Timeout  time.Duration
	MemoryMB int
	Routes   []string // HttpApi events as "METHOD /path"
	SQS      *sqsEvent
}

// sqsEvent is an SQS event source of a function.
type sqsEvent struct {
	QueueARN                string
	BatchSize               int
	ReportBatchItemFailures bool
	MaxConcurrency          int // ScalingConfig.MaximumConcurrency, 0 when unset
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

// scalar formats a resolved template scalar as CloudFormation passes it to an
// environment variable.
func scalar(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool, int, int64, uint64:
		return fmt.Sprint(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("not a scalar: %v (%T)", v, v)
}

func intProp(v any) (int, bool) {
	s, err := scalar(v)
	if err != nil || s == "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// functionSpec reads a function's environment, timeout, memory and events, applying
// SAM's Globals.Function the way the transform does (the function's own values win;
// Environment.Variables are merged).
func functionSpec(tpl *testenv.Template, res *testenv.Resolver, logicalID string) (fnSpec, error) {
	r, err := tpl.Resource(logicalID, "AWS::Serverless::Function")
	if err != nil {
		return fnSpec{}, err
	}
	globals := asMap(tpl.Globals["Function"])
	spec := fnSpec{Env: map[string]string{}, Timeout: 3 * time.Second, MemoryMB: 128} // SAM's defaults
	for _, src := range []map[string]any{globals, r.Properties} {
		vars := asMap(asMap(src["Environment"])["Variables"])
		for k, v := range vars {
			x, err := res.Resolve(v)
			if err != nil {
				return spec, fmt.Errorf("%s Environment %s: %w", logicalID, k, err)
			}
			if x == testenv.NoValue {
				delete(spec.Env, k)
				continue
			}
			s, err := scalar(x)
			if err != nil {
				return spec, fmt.Errorf("%s Environment %s: %w", logicalID, k, err)
			}
			spec.Env[k] = s
		}
		if v, ok := src["Timeout"]; ok {
			x, err := res.Resolve(v)
			if err != nil {
				return spec, err
			}
			n, ok := intProp(x)
			if !ok {
				return spec, fmt.Errorf("%s Timeout %v is not a number", logicalID, x)
			}
			spec.Timeout = time.Duration(n) * time.Second
		}
		if v, ok := src["MemorySize"]; ok {
			x, err := res.Resolve(v)
			if err != nil {
				return spec, err
			}
			if n, ok := intProp(x); ok {
				spec.MemoryMB = n
			}
		}
	}
	names := make([]string, 0)
	events := asMap(r.Properties["Events"])
	for name := range events {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ev := asMap(events[name])
		props := asMap(ev["Properties"])
		switch ev["Type"] {
		case "HttpApi":
			method, _ := props["Method"].(string)
			path, _ := props["Path"].(string)
			if method == "" || path == "" {
				return spec, fmt.Errorf("%s event %s: HttpApi without Method and Path", logicalID, name)
			}
			spec.Routes = append(spec.Routes, strings.ToUpper(method)+" "+path)
		case "SQS":
			q, err := res.Resolve(props["Queue"])
			if err != nil {
				return spec, fmt.Errorf("%s event %s: Queue: %w", logicalID, name, err)
			}
			e := &sqsEvent{BatchSize: 10} // the SQS event source default
			if e.QueueARN, err = scalar(q); err != nil {
				return spec, fmt.Errorf("%s event %s: Queue: %w", logicalID, name, err)
			}
			if n, ok := intProp(props["BatchSize"]); ok {
				e.BatchSize = n
			}
			if n, ok := intProp(asMap(props["ScalingConfig"])["MaximumConcurrency"]); ok {
				e.MaxConcurrency = n
			}
			types, _ := props["FunctionResponseTypes"].([]any)
			for _, t := range types {
				if t == "ReportBatchItemFailures" {
					e.ReportBatchItemFailures = true
				}
			}
			spec.SQS = e
		}
	}
	return spec, nil
}
