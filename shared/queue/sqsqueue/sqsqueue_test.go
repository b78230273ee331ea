package sqsqueue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/callkit-records/callkit-records/internal/testenv"
	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/envelope"
	"github.com/callkit-records/callkit-records/shared/ingest"
	"github.com/callkit-records/callkit-records/shared/queue"
	"github.com/callkit-records/callkit-records/shared/queue/sqsqueue"
)

// Private moto servers started by testenv are stopped after the tests.
func TestMain(m *testing.M) { testenv.Main(m) }

type fakeAPI struct {
	in  *sqs.SendMessageInput
	ctx context.Context
	err error
}

func (f *fakeAPI) SendMessage(ctx context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.in, f.ctx = in, ctx
	if f.err != nil {
		return nil, f.err
	}
	return &sqs.SendMessageOutput{MessageId: aws.String("m-1")}, nil
}

func TestSendBuildsTheRequest(t *testing.T) {
	api := &fakeAPI{}
	s := sqsqueue.New(api, "https://sqs.us-east-1.amazonaws.com/123456789012/callbacks")
	ctx := context.WithValue(context.Background(), struct{}{}, "marker")
	body := []byte(`{"v":1,"body":{"UserId":"张三"}}`)
	if err := s.Send(ctx, queue.Message{Body: body, EventKey: "c%2F1/reject/u/1795342500/0123456789abcdef", CallID: "c/1"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if api.ctx != ctx {
		t.Errorf("the caller's context (and its deadline) was not passed to SendMessage")
	}
	if aws.ToString(api.in.QueueUrl) != "https://sqs.us-east-1.amazonaws.com/123456789012/callbacks" || aws.ToString(api.in.MessageBody) != string(body) {
		t.Errorf("input %+v", api.in)
	}
	want := map[string]string{sqsqueue.AttrEventKey: "c%2F1/reject/u/1795342500/0123456789abcdef", sqsqueue.AttrCallID: "c/1"}
	if len(api.in.MessageAttributes) != len(want) {
		t.Errorf("attributes %v", api.in.MessageAttributes)
	}
	for name, v := range want {
		a := api.in.MessageAttributes[name]
		if aws.ToString(a.DataType) != "String" || aws.ToString(a.StringValue) != v {
			t.Errorf("attribute %s = %s %q, want String %q", name, aws.ToString(a.DataType), aws.ToString(a.StringValue), v)
		}
	}
}

func TestSendErrorIsUnavailable(t *testing.T) {
	cause := errors.New("operation error SQS: SendMessage, https response error StatusCode: 500")
	err := sqsqueue.New(&fakeAPI{err: cause}, "u").Send(context.Background(), queue.Message{Body: []byte("{}")})
	if !errors.Is(err, queue.ErrUnavailable) || !errors.Is(err, cause) {
		t.Fatalf("Send error %v must wrap queue.ErrUnavailable and the cause", err)
	}
}

// receiveAll long-polls until it has want messages or the deadline passes.
func receiveAll(t *testing.T, c *sqs.Client, url string, want int) []types.Message {
	t.Helper()
	var out []types.Message
	deadline := time.Now().Add(20 * time.Second)
	for len(out) < want && time.Now().Before(deadline) {
		res, err := c.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageAttributeNames: []string{"All"}, VisibilityTimeout: 60,
		})
		if err != nil {
			t.Fatalf("ReceiveMessage: %v", err)
		}
		out = append(out, res.Messages...)
	}
	if len(out) != want {
		t.Fatalf("received %d messages, want %d", len(out), want)
	}
	return out
}

func attr(m types.Message, name string) string {
	a, ok := m.MessageAttributes[name]
	if !ok || aws.ToString(a.DataType) != "String" {
		return "<missing>"
	}
	return aws.ToString(a.StringValue)
}

// Against moto (shared via AWS_ENDPOINT_URL_SQS, or a private one): the message and its
// attributes arrive intact, including non-ASCII and JSON escapes.
func TestSendToSQS(t *testing.T) {
	c := testenv.SQS(t)
	url := testenv.QueuesFromTemplate(t, c)["CallbackQueue"].URL
	s := sqsqueue.New(c, url)
	body := `{"v":1,"callId":"c\/1","body":{"UserId":"张三","RoomId":"Alice's Room \u003c1\u003e"}}`
	if err := s.Send(t.Context(), queue.Message{Body: []byte(body), EventKey: "c%2F1/caller_start_call/u/1795342500/0123456789abcdef", CallID: "c/1"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	m := receiveAll(t, c, url, 1)[0]
	if aws.ToString(m.Body) != body {
		t.Errorf("body %q, want %q", aws.ToString(m.Body), body)
	}
	if got := attr(m, sqsqueue.AttrEventKey); got != "c%2F1/caller_start_call/u/1795342500/0123456789abcdef" {
		t.Errorf("eventKey attribute %q", got)
	}
	if got := attr(m, sqsqueue.AttrCallID); got != "c/1" {
		t.Errorf("callId attribute %q", got)
	}
}

// The webhook over SQS against a private moto that is stopped and restarted: accepted
// while SQS is up, 503 with ErrorCode 1 (so Tencent retries) while it is down, and the
// retry is accepted once it is back.
func TestIngestOverSQSOutage(t *testing.T) {
	srv := testenv.StartMoto(t)
	c := testenv.NewSQSClient(srv.Endpoint(), testenv.WithMaxAttempts(1))
	names := map[string]string{
		"CallbackQueue":           testenv.Name(t, "cb"),
		"CallbackDeadLetterQueue": testenv.Name(t, "dlq"),
	}
	url := testenv.CreateQueuesFromTemplate(t, c, "", names)["CallbackQueue"].URL

	const fixtureDir = "../../../events/tencent/v1"
	bodyA, err := os.ReadFile(filepath.Join(fixtureDir, "caller_start_call.json"))
	if err != nil {
		t.Fatal(err)
	}
	bodyB, err := os.ReadFile(filepath.Join(fixtureDir, "normal_end.json"))
	if err != nil {
		t.Fatal(err)
	}
	const qs = "?sdkappid=1400000001&contenttype=json&clientip=203.0.113.7&optplatform=iOS&command="

	h := ingest.New(ingest.Config{
		AppAllowed:  func(id uint64) bool { return id == 1400000001 },
		SendTimeout: 3 * time.Second,
	}, sqsqueue.New(c, url), slog.New(slog.DiscardHandler))
	post := func(command string, body []byte) (int, int, time.Duration) {
		t.Helper()
		start := time.Now()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/callback"+qs+command, bytes.NewReader(body)))
		var a struct{ ErrorCode int }
		if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
			t.Fatalf("ack %q: %v", w.Body.String(), err)
		}
		return w.Code, a.ErrorCode, time.Since(start)
	}
	checkMessage := func(m types.Message, command string, body []byte) {
		t.Helper()
		env, err := envelope.Unmarshal([]byte(aws.ToString(m.Body)))
		if err != nil {
			t.Fatalf("envelope: %v", err)
		}
		q := env.Values()
		cb, err := callback.Parse(q, env.Body)
		if err != nil || cb.Command.String() != command {
			t.Fatalf("queued callback %s: %v", cb.Command, err)
		}
		if attr(m, sqsqueue.AttrEventKey) != cb.Key().String() || env.EventKey != cb.Key().String() || attr(m, sqsqueue.AttrCallID) != cb.CallID {
			t.Errorf("attributes %v, envelope key %q, want %q", m.MessageAttributes, env.EventKey, cb.Key().String())
		}
		var compact bytes.Buffer
		_ = json.Compact(&compact, body)
		if !bytes.Equal(env.Body, compact.Bytes()) {
			t.Errorf("queued body %s, want %s", env.Body, compact.Bytes())
		}
	}

	if code, ec, _ := post("caller_start_call", bodyA); code != 200 || ec != 0 {
		t.Fatalf("with SQS up: %d ErrorCode %d", code, ec)
	}
	checkMessage(receiveAll(t, c, url, 1)[0], "caller_start_call", bodyA)

	srv.Stop()
	code, ec, took := post("normal_end", bodyB)
	if code != http.StatusServiceUnavailable || ec != 1 {
		t.Fatalf("with SQS down: %d ErrorCode %d, want 503 ErrorCode 1", code, ec)
	}
	if took > 5*time.Second {
		t.Errorf("refusing took %v; Tencent's retry schedule is 0 s, 1 s, 1 s, 2 s …", took)
	}

	srv.Start() // same port, empty state
	if again := testenv.CreateQueuesFromTemplate(t, c, "", names)["CallbackQueue"].URL; again != url {
		t.Fatalf("recreated queue URL %q differs from %q", again, url)
	}
	if code, ec, _ := post("normal_end", bodyB); code != 200 || ec != 0 {
		t.Fatalf("Tencent's retry after recovery: %d ErrorCode %d", code, ec)
	}
	checkMessage(receiveAll(t, c, url, 1)[0], "normal_end", bodyB)
}
