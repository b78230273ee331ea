// Command testfn is the Lambda function the lambdaemu tests run through the
// emulator. Its behaviour is chosen by the event:
//
//	{"op":"echo"}                 (default) describe the invocation
//	{"op":"error","msg":"..."}    return an error (errorType "testError")
//	{"op":"sleep","ms":N}         sleep N ms ignoring the deadline, then echo
//	{"op":"exit","code":N,"ms":M} sleep M ms, then os.Exit(N) mid-invoke
//	{"op":"panic","msg":"..."}    panic (aws-lambda-go reports it and exits)
//	{"op":"record","path":P,"ms":N,"n":I}
//	                              append "enter I <unixnano>" to P, sleep N ms,
//	                              append "exit I <unixnano>"
//	{"op":"big","size":N}         return a JSON string of N bytes
//	{"op":"env"}                  return the environment
//
// An API Gateway payload 2.0 event (version "2.0") is answered by apigw();
// an SQS event (Records) by sqs().
//
// Init behaviour comes from the environment: TESTFN_INIT_SLEEP_MS delays
// lambda.Start; TESTFN_INIT_FAIL=exit exits with status 4 during init;
// TESTFN_INIT_FAIL=post posts /runtime/init/error and then exits.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

var count atomic.Int64

type testError struct{ msg string }

func (e testError) Error() string { return e.msg }

type request struct {
	Op   string `json:"op"`
	Msg  string `json:"msg"`
	MS   int    `json:"ms"`
	Code int    `json:"code"`
	Path string `json:"path"`
	N    int    `json:"n"`
	Size int    `json:"size"`
}

type echo struct {
	Op           string          `json:"op"`
	PID          int             `json:"pid"`
	Count        int64           `json:"count"`
	RequestID    string          `json:"requestId"`
	FunctionArn  string          `json:"functionArn"`
	FunctionName string          `json:"functionName"`
	Region       string          `json:"region"`
	TableName    string          `json:"tableName"`
	DeadlineInMS int64           `json:"deadlineInMs"`
	TraceID      string          `json:"traceId"`
	Event        json.RawMessage `json:"event"`
}

func main() {
	if ms, _ := strconv.Atoi(os.Getenv("TESTFN_INIT_SLEEP_MS")); ms > 0 {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	switch os.Getenv("TESTFN_INIT_FAIL") {
	case "exit":
		fmt.Fprintln(os.Stderr, "testfn: failing init on purpose")
		os.Exit(4)
	case "post":
		url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
		req, _ := http.NewRequest(http.MethodPost, url,
			strings.NewReader(`{"errorMessage":"init failed on purpose","errorType":"Custom.InitFailure"}`))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "Custom.InitFailure")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			fmt.Fprintln(os.Stderr, "testfn: init/error status", resp.StatusCode)
		}
		os.Exit(1)
	}
	lambda.Start(handle)
}

func handle(ctx context.Context, raw json.RawMessage) (any, error) {
	n := count.Add(1)
	var probe struct {
		Version string            `json:"version"`
		Records []json.RawMessage `json:"Records"`
	}
	_ = json.Unmarshal(raw, &probe)
	if probe.Version == "2.0" {
		return apigw(raw)
	}
	if probe.Records != nil {
		return sqs(raw)
	}

	var req request
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, testError{"bad event: " + err.Error()}
	}
	switch req.Op {
	case "", "echo":
	case "error":
		return nil, testError{req.Msg}
	case "sleep":
		time.Sleep(time.Duration(req.MS) * time.Millisecond)
	case "exit":
		time.Sleep(time.Duration(req.MS) * time.Millisecond)
		os.Exit(req.Code)
	case "panic":
		panic(req.Msg)
	case "record":
		if err := appendLine(req.Path, fmt.Sprintf("enter %d %d %d", req.N, os.Getpid(), time.Now().UnixNano())); err != nil {
			return nil, err
		}
		time.Sleep(time.Duration(req.MS) * time.Millisecond)
		if err := appendLine(req.Path, fmt.Sprintf("exit %d %d %d", req.N, os.Getpid(), time.Now().UnixNano())); err != nil {
			return nil, err
		}
	case "big":
		return strings.Repeat("x", req.Size), nil
	case "env":
		return os.Environ(), nil
	default:
		return nil, testError{"unknown op " + req.Op}
	}
	lc, _ := lambdacontext.FromContext(ctx)
	dl, _ := ctx.Deadline()
	out := echo{
		Op:           req.Op,
		PID:          os.Getpid(),
		Count:        n,
		FunctionName: lambdacontext.FunctionName,
		Region:       os.Getenv("AWS_REGION"),
		TableName:    os.Getenv("TABLE_NAME"),
		DeadlineInMS: time.Until(dl).Milliseconds(),
		Event:        raw,
	}
	if tid, ok := ctx.Value("x-amzn-trace-id").(string); ok { //nolint:staticcheck
		out.TraceID = tid
	}
	if lc != nil {
		out.RequestID = lc.AwsRequestID
		out.FunctionArn = lc.InvokedFunctionArn
	}
	return out, nil
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// apigw echoes the request event in the body. Query parameters steer it:
// status=N sets the status code, fail=1 returns an error, raw=1 returns a
// plain JSON object without statusCode, binary=1 returns the request body
// base64-encoded with isBase64Encoded, garbage=1 returns an invalid
// response (statusCode as a string).
func apigw(raw json.RawMessage) (any, error) {
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, err
	}
	q := ev.QueryStringParameters
	switch {
	case q["fail"] == "1":
		return nil, testError{"apigw failure requested"}
	case q["raw"] == "1":
		return map[string]any{"hello": "world", "path": ev.RawPath}, nil
	case q["garbage"] == "1":
		return map[string]any{"statusCode": "teapot"}, nil
	case q["binary"] == "1":
		body := []byte(ev.Body)
		if ev.IsBase64Encoded {
			var err error
			if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
				return nil, err
			}
		}
		return events.APIGatewayV2HTTPResponse{
			StatusCode:      200,
			Headers:         map[string]string{"content-type": "application/octet-stream"},
			Body:            base64.StdEncoding.EncodeToString(body),
			IsBase64Encoded: true,
		}, nil
	}
	status := 200
	if s, err := strconv.Atoi(q["status"]); err == nil {
		status = s
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, err
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode:        status,
		Headers:           map[string]string{"content-type": "application/json", "x-echo": "yes"},
		MultiValueHeaders: map[string][]string{"x-multi": {"a", "b"}},
		Cookies:           []string{"session=abc; Path=/; HttpOnly", "theme=dark"},
		Body:              buf.String(),
	}, nil
}

// sqs fails records whose body is "fail", reports a bogus identifier for
// "bogus", and returns an error for "boom".
func sqs(raw json.RawMessage) (any, error) {
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, err
	}
	var resp events.SQSEventResponse
	for _, r := range ev.Records {
		switch r.Body {
		case "boom":
			return nil, errors.New("boom")
		case "fail":
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		case "bogus":
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: "no-such-id"})
		}
	}
	return resp, nil
}
