package testenv_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/callkit-records/callkit-records/internal/testenv"
)

func TestTableFromTemplate(t *testing.T) {
	t.Parallel()
	c := testenv.DynamoDB(t)
	name := testenv.Name(t, "calls")
	testenv.CreateTableFromTemplate(t, c, "", "CallsTable", name)

	ctx := t.Context()
	out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	tb := out.Table
	if tb.TableStatus != ddbtypes.TableStatusActive {
		t.Errorf("status %s", tb.TableStatus)
	}
	if got := keys(tb.KeySchema); got != "PK:HASH SK:RANGE" {
		t.Errorf("key schema %s", got)
	}
	if tb.BillingModeSummary == nil || tb.BillingModeSummary.BillingMode != ddbtypes.BillingModePayPerRequest {
		t.Errorf("billing %+v", tb.BillingModeSummary)
	}
	want := map[string]string{
		"ByAppTime":  "GSI1PK:HASH GSI1SK:RANGE INCLUDE [f ttl]",
		"ByUserTime": "GSI2PK:HASH GSI2SK:RANGE INCLUDE [role ttl]",
	}
	got := map[string]string{}
	for _, g := range tb.GlobalSecondaryIndexes {
		got[aws.ToString(g.IndexName)] = fmt.Sprintf("%s %s %v", keys(g.KeySchema), g.Projection.ProjectionType, g.Projection.NonKeyAttributes)
		if g.IndexStatus != ddbtypes.IndexStatusActive {
			t.Errorf("GSI %s status %s", aws.ToString(g.IndexName), g.IndexStatus)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("GSIs\n got %v\nwant %v", got, want)
	}
	ttl, err := c.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; d.TimeToLiveStatus != ddbtypes.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != "ttl" {
		t.Errorf("TTL %s %s", d.TimeToLiveStatus, aws.ToString(d.AttributeName))
	}
	// The GSI is usable.
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name), Item: map[string]ddbtypes.AttributeValue{
		"PK": s("A#1"), "SK": s("CALL#1"), "GSI1PK": s("APP#1"), "GSI1SK": s("2026"), "v": s("x"),
	}}); err != nil {
		t.Fatal(err)
	}
	q, err := c.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(name), IndexName: aws.String("ByAppTime"),
		KeyConditionExpression:    aws.String("GSI1PK = :p"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": s("APP#1")},
	})
	if err != nil || q.Count != 1 {
		t.Fatalf("query GSI: %v count=%d", err, q.Count)
	}
}

func TestTableFromTemplateIsDeletedOnCleanup(t *testing.T) {
	t.Parallel()
	c := testenv.DynamoDB(t)
	var name string
	t.Run("create", func(t *testing.T) {
		name = testenv.TableFromTemplate(t, c, "CallsTable")
	})
	_, err := c.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err == nil || !strings.Contains(err.Error(), "ResourceNotFound") {
		t.Errorf("table %s still there after cleanup: %v", name, err)
	}
}

func keys(ks []ddbtypes.KeySchemaElement) string {
	var p []string
	for _, k := range ks {
		p = append(p, aws.ToString(k.AttributeName)+":"+string(k.KeyType))
	}
	return strings.Join(p, " ")
}

func s(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }

func TestQueuesFromTemplateRedrive(t *testing.T) {
	t.Parallel()
	c := testenv.SQS(t)
	qs := testenv.CreateQueuesFromTemplate(t, c, "", map[string]string{
		"CallbackQueue": testenv.Name(t, "callbacks"),
	}, testenv.WithMaxReceiveCount(2))
	main, dlq := qs["CallbackQueue"], qs["CallbackDeadLetterQueue"]
	if len(qs) != 2 || main.URL == "" || dlq.ARN == "" || !strings.HasPrefix(main.Name, "callbacks-") {
		t.Fatalf("queues %+v", qs)
	}
	ctx := t.Context()

	attrs := func(url string) map[string]string {
		out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
		})
		if err != nil {
			t.Fatal(err)
		}
		return out.Attributes
	}
	ma := attrs(main.URL)
	if ma["VisibilityTimeout"] != "180" || ma["MessageRetentionPeriod"] != "1209600" {
		t.Errorf("main attrs %v", ma)
	}
	var rp struct {
		DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(ma["RedrivePolicy"]), &rp); err != nil {
		t.Fatalf("RedrivePolicy %q: %v", ma["RedrivePolicy"], err)
	}
	if rp.DeadLetterTargetArn != dlq.ARN || strings.Trim(string(rp.MaxReceiveCount), `"`) != "2" {
		t.Errorf("RedrivePolicy %s (dlq %s)", ma["RedrivePolicy"], dlq.ARN)
	}
	if da := attrs(dlq.URL); da["MessageRetentionPeriod"] != "1209600" {
		t.Errorf("dlq attrs %v", da)
	}

	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(main.URL), MessageBody: aws.String("poison")}); err != nil {
		t.Fatal(err)
	}
	var counts []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("message never reached the DLQ; receive counts on main queue: %v", counts)
		}
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(main.URL), VisibilityTimeout: 1, WaitTimeSeconds: 2,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages { // received, not deleted: a failed processing attempt
			counts = append(counts, m.Attributes["ApproximateReceiveCount"])
		}
		if len(counts) < 2 {
			continue
		}
		d, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlq.URL), WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Messages) == 1 && aws.ToString(d.Messages[0].Body) == "poison" {
			break
		}
	}
	if strings.Join(counts, ",") != "1,2" {
		t.Errorf("receive counts before redrive = %v, want [1 2]", counts)
	}
}

// An inline template with the main queue listed before its DLQ, a conditional
// queue and unrelated resources: order is resolved, the condition honoured.
func TestQueuesFromRichTemplate(t *testing.T) {
	t.Parallel()
	c := testenv.SQS(t)
	p := writeTemplate(t, richTemplate)
	qs := testenv.CreateQueuesFromTemplate(t, c, p, nil,
		testenv.WithQueueAttribute("Q", "DelaySeconds", "1"))
	if _, ok := qs["ProdOnlyQueue"]; ok || len(qs) != 2 {
		t.Fatalf("queues %v", qs)
	}
	out, err := c.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(qs["Q"].URL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	a := out.Attributes
	if a["VisibilityTimeout"] != "45" || a["MessageRetentionPeriod"] != "86400" || a["DelaySeconds"] != "1" ||
		!strings.Contains(a["RedrivePolicy"], qs["DLQ"].ARN) {
		t.Errorf("Q attrs %v", a)
	}
	tags, err := c.ListQueueTags(t.Context(), &sqs.ListQueueTagsInput{QueueUrl: aws.String(qs["Q"].URL)})
	if err != nil || tags.Tags["stage"] != "dev" {
		t.Errorf("tags %v %v", tags, err)
	}
}

// Fault injection: a private moto is stopped and restarted on the same port.
func TestMotoStopStart(t *testing.T) {
	t.Parallel()
	srv := testenv.StartMoto(t)
	c := testenv.NewSQSClient(srv.Endpoint(), testenv.WithMaxAttempts(1))
	ctx := t.Context()
	if _, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(testenv.Name(t, "q"))}); err != nil {
		t.Fatal(err)
	}
	port, pid := srv.Port(), srv.PID()
	srv.Stop()
	if srv.Running() || srv.PID() != 0 || processAlive(pid) {
		t.Fatalf("moto pid %d still running after Stop", pid)
	}
	start := time.Now()
	if _, err := c.ListQueues(ctx, &sqs.ListQueuesInput{}); err == nil {
		t.Fatal("ListQueues succeeded while moto was stopped")
	} else if time.Since(start) > 5*time.Second {
		t.Errorf("failure took %v with WithMaxAttempts(1)", time.Since(start))
	}
	srv.Start()
	if srv.Port() != port || srv.PID() == pid {
		t.Fatalf("restart: port %d→%d pid %d→%d", port, srv.Port(), pid, srv.PID())
	}
	t.Logf("restart took %v", srv.StartupTime())
	out, err := c.ListQueues(ctx, &sqs.ListQueuesInput{}) // same client reconnects
	if err != nil {
		t.Fatal(err)
	}
	if len(out.QueueUrls) != 0 {
		t.Errorf("moto state survived a restart: %v", out.QueueUrls)
	}
	srv.Stop()
	srv.Stop() // idempotent
}

// -dbPath storage survives Stop/Start of a private DynamoDB Local; it listens on loopback only.
func TestDynamoDBLocalPersistentRestart(t *testing.T) {
	t.Parallel()
	srv := testenv.StartDynamoDBLocal(t, testenv.DDBPersistent())
	assertLoopbackOnly(t, srv.Port())
	c := testenv.NewDynamoDBClient(srv.Endpoint(), testenv.WithMaxAttempts(1))
	name := testenv.TableFromTemplate(t, c, "CallsTable")
	ctx := t.Context()
	item := map[string]ddbtypes.AttributeValue{"PK": s("A#1"), "SK": s("CALL#1")}
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name), Item: item}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if _, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(name), Key: item}); err == nil {
		t.Fatal("GetItem succeeded while DynamoDB Local was stopped")
	}
	srv.Start()
	t.Logf("restart took %v", srv.StartupTime())
	got, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(name), Key: item, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Item) == 0 {
		t.Fatal("item lost across Stop/Start with DDBPersistent")
	}
}

func TestSharedOrPrivateEndpointsAreLoopback(t *testing.T) {
	t.Parallel()
	for _, ep := range []string{testenv.DynamoDBEndpoint(t), testenv.SQSEndpoint(t)} {
		if !strings.HasPrefix(ep, "http://127.0.0.1:") {
			t.Errorf("endpoint %s is not loopback", ep)
			continue
		}
		port, _ := strconv.Atoi(ep[strings.LastIndexByte(ep, ':')+1:])
		assertLoopbackOnly(t, port)
	}
}

// assertLoopbackOnly checks /proc/net/tcp{,6}: every listener on port is 127.0.0.1.
func assertLoopbackOnly(t *testing.T, port int) {
	t.Helper()
	hexPort := fmt.Sprintf(":%04X", port)
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 4 || fields[3] != "0A" || !strings.HasSuffix(fields[1], hexPort) {
				continue
			}
			n++
			addr := strings.TrimSuffix(fields[1], hexPort)
			// 0100007F = 127.0.0.1; 0000000000000000FFFF00000100007F = ::ffff:127.0.0.1
			if addr != "0100007F" && addr != "0000000000000000FFFF00000100007F" {
				t.Errorf("port %d listens on non-loopback address %s (%s)", port, addr, f)
			}
		}
	}
	if n == 0 {
		t.Errorf("nothing listens on port %d", port)
	}
}

func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return !(i > 0 && i+2 < len(b) && b[i+2] == 'Z')
}
