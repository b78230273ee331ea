package stack

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/internal/testenv"
)

func TestSplitWords(t *testing.T) {
	for in, want := range map[string][]string{
		`-tags lambda.norpc -trimpath -ldflags "-s -w"`: {"-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w"},
		`CGO_ENABLED=0  GOOS=linux	GOARCH=arm64`:        {"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64"},
		`a 'b c'd ""`:                                   {"a", "b cd", ""},
		``:                                              nil,
	} {
		got, err := splitWords(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := splitWords(`-ldflags "-s`); err == nil {
		t.Error("unterminated quote accepted")
	}
}

func TestMakefileFlags(t *testing.T) {
	f, err := MakefileFlags()
	if err != nil {
		t.Fatal(err)
	}
	// What the deployed bootstraps are: static linux/arm64, no RPC shim, stripped.
	for _, want := range []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64"} {
		if !slices.Contains(f.Env, want) {
			t.Errorf("LAMBDA_ENV %q lacks %s", f.Env, want)
		}
	}
	args := strings.Join(f.Args, " ")
	for _, want := range []string{"lambda.norpc", "-trimpath", "-ldflags -s -w"} {
		if !strings.Contains(args, want) {
			t.Errorf("LAMBDA_FLAGS %q lacks %s", f.Args, want)
		}
	}

	bad := []string{
		"LAMBDA_ENV := GOOS=linux\n",                                // no LAMBDA_FLAGS
		"LAMBDA_ENV := GOOS=linux\nLAMBDA_FLAGS := $(OTHER)\n",      // not literal
		"LAMBDA_ENV := linux\nLAMBDA_FLAGS := -trimpath\n",          // not KEY=value
		"LAMBDA_ENV := GOOS=linux\nLAMBDA_FLAGS := -ldflags \"-s\n", // quote
	}
	for _, mk := range bad {
		if _, err := parseMakefileFlags([]byte(mk)); err == nil {
			t.Errorf("accepted %q", mk)
		}
	}
}

// TestFunctionSpecFromTemplate reads the real template: Globals merged into each
// function, intrinsics resolved against the stack's resources.
func TestFunctionSpecFromTemplate(t *testing.T) {
	tpl, err := testenv.LoadTemplate("")
	if err != nil {
		t.Fatal(err)
	}
	res := testenv.NewResolver(tpl)
	res.Parameters = map[string]any{"SdkAppIds": "1400000001", "SecretKeySecretName": "the-secret"}
	res.Ref = func(id string) (any, error) { return "ref:" + id, nil }
	res.GetAtt = func(id, attr string) (any, error) { return "arn:" + id + "." + attr, nil }

	ingest, err := functionSpec(tpl, res, "IngestFunction")
	if err != nil {
		t.Fatal(err)
	}
	if ingest.Env["QUEUE_URL"] != "ref:CallbackQueue" || ingest.Env["CALLKIT_SDKAPPIDS"] != "1400000001" || ingest.Env["CALLKIT_LOG_LEVEL"] == "" {
		t.Errorf("ingest env %v: want the queue, the app and the Globals log level", ingest.Env)
	}
	if !slices.Contains(ingest.Routes, "POST /callback") || ingest.SQS != nil || ingest.Timeout <= 0 || ingest.Timeout > time.Minute {
		t.Errorf("ingest spec %+v", ingest)
	}

	persist, err := functionSpec(tpl, res, "PersistFunction")
	if err != nil {
		t.Fatal(err)
	}
	if persist.SQS == nil || persist.SQS.QueueARN != "arn:CallbackQueue.Arn" || persist.SQS.BatchSize != 10 || !persist.SQS.ReportBatchItemFailures {
		t.Errorf("persist event source %+v", persist.SQS)
	}
	if len(persist.Routes) != 0 || persist.Env["TABLE_NAME"] != "ref:CallsTable" {
		t.Errorf("persist spec %+v", persist)
	}

	query, err := functionSpec(tpl, res, "QueryFunction")
	if err != nil {
		t.Fatal(err)
	}
	if query.Env["CALLKIT_SECRET_ID"] != "the-secret" || query.Env["CALLKIT_SECRET_KEY"] != "" {
		t.Errorf("query env %v: the key must come from Secrets Manager, by name", query.Env)
	}
	if !slices.Contains(query.Routes, "GET /v1/calls/{callId}") {
		t.Errorf("query routes %v", query.Routes)
	}

	if _, err := functionSpec(tpl, res, "CallsTable"); err == nil {
		t.Error("a table read as a function")
	}
}
