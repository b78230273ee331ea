// The checks on template.yaml that cfn-lint cannot make: the
// template must route exactly what the handlers serve, wire the SQS event source right,
// set the environment the code requires, and grant each function only what it uses.

package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/callkit-records/callkit-records/internal/testenv"
	"github.com/callkit-records/callkit-records/shared/auth"
	"github.com/callkit-records/callkit-records/shared/config"
	"github.com/callkit-records/callkit-records/shared/ingest"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/query"
	"github.com/callkit-records/callkit-records/shared/ratelimit"
)

func load(t *testing.T) *testenv.Template {
	t.Helper()
	tpl, err := testenv.LoadTemplate("")
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func root(t *testing.T) string {
	t.Helper()
	r, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mapOf(v any) map[string]any { m, _ := v.(map[string]any); return m }

func function(t *testing.T, tpl *testenv.Template, id string) testenv.Resource {
	t.Helper()
	r, err := tpl.Resource(id, "AWS::Serverless::Function")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCfnLint: the template passes cfn-lint (offline; it runs the SAM transform).
func TestCfnLint(t *testing.T) {
	if _, err := exec.LookPath("cfn-lint"); err != nil {
		t.Fatal("cfn-lint is not installed (pip install cfn-lint): the template cannot be checked")
	}
	out, err := exec.Command("cfn-lint", "--format", "parseable", filepath.Join(root(t), "template.yaml")).CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint: %v\n%s", err, out)
	}
}

func httpRoutes(fn testenv.Resource) []string {
	var out []string
	for _, ev := range mapOf(fn.Properties["Events"]) {
		e := mapOf(ev)
		if e["Type"] != "HttpApi" {
			continue
		}
		p := mapOf(e["Properties"])
		out = append(out, strings.ToUpper(p["Method"].(string))+" "+p["Path"].(string))
	}
	sort.Strings(out)
	return out
}

// TestRoutesMatchHandlers: IngestFunction is routed exactly the webhook's routes and
// QueryFunction exactly the query handler's; API Gateway throttles each query route.
func TestRoutesMatchHandlers(t *testing.T) {
	tpl := load(t)
	webhook := append([]string(nil), ingest.Routes...)
	sort.Strings(webhook)
	if got := httpRoutes(function(t, tpl, "IngestFunction")); !slices.Equal(got, webhook) {
		t.Errorf("IngestFunction routes %v, the webhook serves %v", got, webhook)
	}
	var served []string
	for _, r := range query.New(nil, auth.NewVerifier(nil, nil, nil), ratelimit.New(0), logging.Discard(), nil).Routes() {
		served = append(served, r.Method+" "+r.Path)
	}
	sort.Strings(served)
	if got := httpRoutes(function(t, tpl, "QueryFunction")); !slices.Equal(got, served) {
		t.Errorf("QueryFunction routes %v, the query handler serves %v", got, served)
	}
	if got := httpRoutes(function(t, tpl, "PersistFunction")); len(got) != 0 {
		t.Errorf("PersistFunction must not be routed: %v", got)
	}
	api, err := tpl.Resource("HttpApi", "AWS::Serverless::HttpApi")
	if err != nil {
		t.Fatal(err)
	}
	var throttled []string
	for k, v := range mapOf(api.Properties["RouteSettings"]) {
		if mapOf(v)["ThrottlingRateLimit"] == nil || mapOf(v)["ThrottlingBurstLimit"] == nil {
			t.Errorf("route %s: throttling limits missing", k)
		}
		throttled = append(throttled, k)
	}
	sort.Strings(throttled)
	if !slices.Equal(throttled, served) {
		t.Errorf("throttled routes %v, query routes %v", throttled, served)
	}
}

// TestPersistEventSource: the SQS event's Queue is an ARN (!Ref of a queue is its URL,
// which cfn-lint accepts), partial batch responses are on, and the batch fits SQS.
func TestPersistEventSource(t *testing.T) {
	tpl := load(t)
	fn := function(t, tpl, "PersistFunction")
	var sqsEvents []map[string]any
	for _, ev := range mapOf(fn.Properties["Events"]) {
		if mapOf(ev)["Type"] == "SQS" {
			sqsEvents = append(sqsEvents, mapOf(mapOf(ev)["Properties"]))
		}
	}
	if len(sqsEvents) != 1 {
		t.Fatalf("PersistFunction has %d SQS events, want 1", len(sqsEvents))
	}
	p := sqsEvents[0]
	ga, _ := mapOf(p["Queue"])["Fn::GetAtt"].([]any)
	if len(ga) != 2 || ga[1] != "Arn" {
		t.Fatalf("SQS event Queue is %v; it must be !GetAtt <Queue>.Arn", p["Queue"])
	}
	if _, err := tpl.Resource(ga[0].(string), "AWS::SQS::Queue"); err != nil {
		t.Fatalf("SQS event Queue: %v", err)
	}
	types, _ := p["FunctionResponseTypes"].([]any)
	if !slices.Contains(types, any("ReportBatchItemFailures")) {
		t.Fatalf("FunctionResponseTypes %v: ReportBatchItemFailures is required (the handler returns batchItemFailures)", types)
	}
	if bs, _ := p["BatchSize"].(int); bs < 1 || bs > 10 {
		t.Fatalf("BatchSize %v: must be 1-10 (the handler's deadline margin is sized for it)", p["BatchSize"])
	}
	// VisibilityTimeout ≥ 6 × function timeout (AWS guidance; less makes redelivery race the function).
	q, _ := tpl.Resource(ga[0].(string), "AWS::SQS::Queue")
	vis, _ := q.Properties["VisibilityTimeout"].(int)
	timeout, _ := fn.Properties["Timeout"].(int)
	if timeout == 0 || vis < 6*timeout {
		t.Fatalf("queue VisibilityTimeout %d < 6 × PersistFunction Timeout %d", vis, timeout)
	}
	rp := mapOf(q.Properties["RedrivePolicy"])
	if mc, _ := rp["maxReceiveCount"].(int); mc < 2 || mapOf(rp["deadLetterTargetArn"])["Fn::GetAtt"] == nil {
		t.Fatalf("queue RedrivePolicy %v: a DLQ ARN and maxReceiveCount ≥ 2 are required", rp)
	}
}

func envOf(tpl *testenv.Template, fn testenv.Resource) map[string]any {
	env := map[string]any{}
	for k, v := range mapOf(mapOf(mapOf(tpl.Globals["Function"])["Environment"])["Variables"]) {
		env[k] = v
	}
	for k, v := range mapOf(mapOf(fn.Properties["Environment"])["Variables"]) {
		env[k] = v
	}
	return env
}

// TestEnvironment: every variable a function requires is set, and every variable set is
// one the code reads (a misspelt name would be silently ignored).
func TestEnvironment(t *testing.T) {
	tpl := load(t)
	for id, req := range map[string][]string{
		"IngestFunction":  config.IngestRequires,
		"PersistFunction": config.PersistRequires,
		"QueryFunction":   config.QueryRequires,
	} {
		env := envOf(tpl, function(t, tpl, id))
		for _, name := range req {
			if name == "CALLKIT_SECRET_KEY" {
				name = "CALLKIT_SECRET_ID" // in AWS the key is read from Secrets Manager
			}
			if env[name] == nil {
				t.Errorf("%s: %s is required by the code but not set", id, name)
			}
		}
		for name := range env {
			if !slices.Contains(config.Names, name) {
				t.Errorf("%s: %s is set but the code never reads it", id, name)
			}
		}
		if env["CALLKIT_SECRET_KEY"] != nil {
			t.Errorf("%s: the secret key must not be in the template (use CALLKIT_SECRET_ID)", id)
		}
	}
}

// statements flattens a function's inline policy statements into action → resources.
func statements(t *testing.T, fn testenv.Resource) map[string][]any {
	t.Helper()
	out := map[string][]any{}
	policies, _ := fn.Properties["Policies"].([]any)
	for _, p := range policies {
		pm := mapOf(p)
		if pm == nil {
			t.Fatalf("%s: policy %v is a managed/SAM policy template; use explicit statements", fn.LogicalID, p)
		}
		for _, s := range pm["Statement"].([]any) {
			sm := mapOf(s)
			if sm["Effect"] != "Allow" {
				continue
			}
			actions, ok := sm["Action"].([]any)
			if !ok {
				actions = []any{sm["Action"]}
			}
			res, ok := sm["Resource"].([]any)
			if !ok {
				res = []any{sm["Resource"]}
			}
			for _, a := range actions {
				out[a.(string)] = append(out[a.(string)], res...)
			}
		}
	}
	return out
}

// TestLeastPrivilege: ingest may only send to its queue, persist only read and write
// its table, query only read its table and its secret.
func TestLeastPrivilege(t *testing.T) {
	tpl := load(t)
	for id, want := range map[string][]string{
		"IngestFunction":  {"sqs:SendMessage"},
		"PersistFunction": {"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:GetItem", "dynamodb:PutItem"},
		"QueryFunction":   {"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query", "secretsmanager:GetSecretValue"},
	} {
		st := statements(t, function(t, tpl, id))
		var got []string
		for a, res := range st {
			got = append(got, a)
			for _, r := range res {
				if r == "*" {
					t.Errorf("%s: %s on every resource", id, a)
				}
			}
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s may %v, want exactly %v", id, got, want)
		}
	}
	if res := statements(t, function(t, tpl, "IngestFunction"))["sqs:SendMessage"]; len(res) != 1 || !strings.Contains(strings.Join(flat(res[0]), " "), "CallbackQueue") {
		t.Errorf("IngestFunction may send to %v, want only CallbackQueue", res)
	}
}

func flat(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, flat(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for k, e := range x {
			out = append(out, k)
			out = append(out, flat(e)...)
		}
		return out
	}
	return nil
}

// TestBuildTargets: every function is built by the Makefile (sam build's makefile
// builder calls build-<LogicalId>) for arm64 with the lambda.norpc tag.
func TestBuildTargets(t *testing.T) {
	tpl := load(t)
	mk, err := os.ReadFile(filepath.Join(root(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range tpl.ResourcesOfType("AWS::Serverless::Function") {
		fn := function(t, tpl, id)
		if mapOf(fn.Raw["Metadata"])["BuildMethod"] != "makefile" || fn.Properties["CodeUri"] != "." {
			t.Errorf("%s: want Metadata.BuildMethod makefile and CodeUri . (one root go.mod)", id)
		}
		if !regexp.MustCompile(`(?m)^build-` + id + `:`).Match(mk) {
			t.Errorf("Makefile has no build-%s target", id)
		}
	}
	for _, want := range []string{"GOARCH=arm64", "CGO_ENABLED=0", "-tags lambda.norpc", "-trimpath", `-ldflags "-s -w"`} {
		if !strings.Contains(string(mk), want) {
			t.Errorf("Makefile Lambda build lacks %s", want)
		}
	}
	globals := mapOf(tpl.Globals["Function"])
	if globals["Runtime"] != "provided.al2023" || globals["Handler"] != "bootstrap" || !slices.Contains(globals["Architectures"].([]any), any("arm64")) {
		t.Errorf("Globals.Function: %v", globals)
	}
}
