package awsenv_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/callkit-records/callkit-records/shared/awsenv"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

var lambdaEnv = map[string]string{
	"AWS_REGION":            "eu-west-1",
	"AWS_ACCESS_KEY_ID":     "ASIAEXAMPLEKEY",
	"AWS_SECRET_ACCESS_KEY": "secret",
	"AWS_SESSION_TOKEN":     "session-token",
}

func with(extra map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range lambdaEnv {
		m[k] = v
	}
	for k, v := range extra {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

func TestConfig(t *testing.T) {
	cfg, err := awsenv.Config(env(lambdaEnv))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" {
		t.Errorf("Region = %q", cfg.Region)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "ASIAEXAMPLEKEY" || creds.SecretAccessKey != "secret" || creds.SessionToken != "session-token" {
		t.Errorf("credentials %+v", creds)
	}

	cfg, err = awsenv.Config(env(with(map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": "ap-southeast-1"})))
	if err != nil || cfg.Region != "ap-southeast-1" {
		t.Errorf("AWS_DEFAULT_REGION fallback: %q, %v", cfg.Region, err)
	}
	cfg, _ = awsenv.Config(env(with(map[string]string{"AWS_DEFAULT_REGION": "ap-southeast-1"})))
	if cfg.Region != "eu-west-1" {
		t.Errorf("AWS_REGION must win over AWS_DEFAULT_REGION, got %q", cfg.Region)
	}
	for _, missing := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if _, err := awsenv.Config(env(with(map[string]string{missing: ""}))); !errors.Is(err, awsenv.ErrNoCredentials) {
			t.Errorf("without %s: %v, want ErrNoCredentials", missing, err)
		}
	}
}

func TestSourceResolution(t *testing.T) {
	cases := []struct {
		name, sdkID string
		vars        map[string]string
		want        string
		found       bool
	}{
		{"service variable", "SQS", map[string]string{"AWS_ENDPOINT_URL_SQS": "http://sqs.local"}, "http://sqs.local", true},
		{"service variable wins", "SQS", map[string]string{"AWS_ENDPOINT_URL_SQS": "http://sqs.local", "AWS_ENDPOINT_URL": "http://all.local"}, "http://sqs.local", true},
		{"global fallback", "DynamoDB", map[string]string{"AWS_ENDPOINT_URL_SQS": "http://sqs.local", "AWS_ENDPOINT_URL": "http://all.local"}, "http://all.local", true},
		{"SDK id upper-cased", "DynamoDB", map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": "http://ddb.local"}, "http://ddb.local", true},
		{"spaces become underscores", "Secrets Manager", map[string]string{"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://sm.local"}, "http://sm.local", true},
		{"nothing set", "SQS", nil, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := awsenv.Config(env(with(tc.vars)))
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.ConfigSources) != 1 {
				t.Fatalf("ConfigSources = %v", cfg.ConfigSources)
			}
			src := cfg.ConfigSources[0].(interface {
				GetServiceBaseEndpoint(context.Context, string) (string, bool, error)
			})
			got, found, err := src.GetServiceBaseEndpoint(context.Background(), tc.sdkID)
			if err != nil || got != tc.want || found != tc.found {
				t.Errorf("GetServiceBaseEndpoint(%q) = %q, %v, %v; want %q, %v", tc.sdkID, got, found, err, tc.want, tc.found)
			}
		})
	}
	t.Run("zero Source reads the process environment", func(t *testing.T) {
		t.Setenv("AWS_ENDPOINT_URL_SQS", "http://from-os.local")
		got, found, _ := awsenv.Source{}.GetServiceBaseEndpoint(context.Background(), "SQS")
		if got != "http://from-os.local" || !found {
			t.Errorf("= %q, %v", got, found)
		}
	})
}

// recorder is a fake AWS JSON-protocol endpoint that records the requests it gets.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newRecorder(t *testing.T, response string) *recorder {
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.reqs = append(r.reqs, req.Clone(context.Background()))
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write([]byte(response))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) requests() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*http.Request(nil), r.reqs...)
}

// The real SDK clients built with sqs/dynamodb.NewFromConfig(cfg) send to the
// overridden endpoints, signed with the environment's credentials and region.
func TestSDKHonoursEndpointOverrides(t *testing.T) {
	sqsSrv := newRecorder(t, `{"QueueUrls":["http://x/123456789012/q"]}`)
	ddbSrv := newRecorder(t, `{"TableNames":["t"]}`)
	globalSrv := newRecorder(t, `{"TableNames":["global"]}`)

	cfg, err := awsenv.Config(env(with(map[string]string{
		"AWS_ENDPOINT_URL_SQS":      sqsSrv.URL,
		"AWS_ENDPOINT_URL_DYNAMODB": ddbSrv.URL,
		"AWS_ENDPOINT_URL":          globalSrv.URL,
	})))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	out, err := sqs.NewFromConfig(cfg).ListQueues(ctx, &sqs.ListQueuesInput{})
	if err != nil {
		t.Fatalf("SQS ListQueues: %v", err)
	}
	if len(out.QueueUrls) != 1 || out.QueueUrls[0] != "http://x/123456789012/q" {
		t.Errorf("ListQueues = %v", out.QueueUrls)
	}
	if _, err := dynamodb.NewFromConfig(cfg).ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("DynamoDB ListTables: %v", err)
	}

	check := func(name string, r *recorder, target, service string) {
		t.Helper()
		reqs := r.requests()
		if len(reqs) != 1 {
			t.Fatalf("%s endpoint got %d requests, want 1", name, len(reqs))
		}
		req := reqs[0]
		if got := req.Header.Get("X-Amz-Target"); got != target {
			t.Errorf("%s: X-Amz-Target = %q, want %q", name, got, target)
		}
		auth := req.Header.Get("Authorization")
		if !strings.Contains(auth, "Credential=ASIAEXAMPLEKEY/") || !strings.Contains(auth, "/eu-west-1/"+service+"/aws4_request") {
			t.Errorf("%s: Authorization %q is not signed for ASIAEXAMPLEKEY in eu-west-1/%s", name, auth, service)
		}
		if req.Header.Get("X-Amz-Security-Token") != "session-token" {
			t.Errorf("%s: session token not sent", name)
		}
	}
	check("SQS", sqsSrv, "AmazonSQS.ListQueues", "sqs")
	check("DynamoDB", ddbSrv, "DynamoDB_20120810.ListTables", "dynamodb")
	if n := len(globalSrv.requests()); n != 0 {
		t.Errorf("the global endpoint got %d requests although service endpoints are set", n)
	}

	t.Run("global endpoint", func(t *testing.T) {
		cfg, err := awsenv.Config(env(with(map[string]string{"AWS_ENDPOINT_URL": globalSrv.URL})))
		if err != nil {
			t.Fatal(err)
		}
		out, err := dynamodb.NewFromConfig(cfg).ListTables(ctx, &dynamodb.ListTablesInput{})
		if err != nil || len(out.TableNames) != 1 || out.TableNames[0] != "global" {
			t.Fatalf("ListTables via AWS_ENDPOINT_URL = %v, %v", out, err)
		}
	})
}
