package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

const (
	TypeDynamoDBTable = "AWS::DynamoDB::Table"
	TypeSQSQueue      = "AWS::SQS::Queue"
)

// ---------------------------------------------------------------- DynamoDB

// CFN shapes of AWS::DynamoDB::Table properties that matter for CreateTable.
// Others (SSESpecification, PointInTimeRecoverySpecification, Tags,
// DeletionProtectionEnabled, …) are deliberately ignored: they do not change
// the data model, and deletion protection would break cleanup.
type cfnTable struct {
	AttributeDefinitions []struct {
		AttributeName string
		AttributeType string
	}
	KeySchema               []cfnKey
	BillingMode             string
	ProvisionedThroughput   *cfnThroughput
	GlobalSecondaryIndexes  []cfnIndex
	LocalSecondaryIndexes   []cfnIndex
	StreamSpecification     *struct{ StreamViewType string }
	TimeToLiveSpecification *struct {
		AttributeName string
		Enabled       flexBool
	}
}

type cfnKey struct{ AttributeName, KeyType string }

type cfnThroughput struct{ ReadCapacityUnits, WriteCapacityUnits flexInt }

type cfnIndex struct {
	IndexName  string
	KeySchema  []cfnKey
	Projection struct {
		ProjectionType   string
		NonKeyAttributes []string
	}
	ProvisionedThroughput *cfnThroughput
}

// flexInt accepts 5 and "5" (CloudFormation accepts both).
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %s", b)
	}
	*f = flexInt(n)
	return nil
}

// flexBool accepts true and "true".
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseBool(strings.Trim(string(b), `"`))
	if err != nil {
		return fmt.Errorf("not a boolean: %s", b)
	}
	*f = flexBool(v)
	return nil
}

// decodeResolved resolves intrinsics in v and decodes the result into out via JSON.
func decodeResolved(res *Resolver, v any, out any) error {
	x, err := res.Resolve(v)
	if err != nil {
		return err
	}
	b, err := json.Marshal(x)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// TableInputFromTemplate converts the AWS::DynamoDB::Table logicalID into a
// CreateTableInput named tableName (AttributeDefinitions, KeySchema, GSIs and
// LSIs with their Projection, BillingMode, ProvisionedThroughput,
// StreamSpecification) plus its TimeToLiveSpecification (nil when absent or
// disabled). res may be nil.
func TableInputFromTemplate(tpl *Template, logicalID, tableName string, res *Resolver) (*dynamodb.CreateTableInput, *ddbtypes.TimeToLiveSpecification, error) {
	r, err := tpl.Resource(logicalID, TypeDynamoDBTable)
	if err != nil {
		return nil, nil, err
	}
	if res == nil {
		res = NewResolver(tpl)
	}
	var p cfnTable
	if err := decodeResolved(res, r.Properties, &p); err != nil {
		return nil, nil, fmt.Errorf("%s (line %d): %w", logicalID, r.Line, err)
	}
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(tableName),
		BillingMode: ddbtypes.BillingMode(p.BillingMode),
	}
	if in.BillingMode == "" {
		in.BillingMode = ddbtypes.BillingModeProvisioned // the CloudFormation default
	}
	if len(p.KeySchema) == 0 {
		return nil, nil, fmt.Errorf("%s: no KeySchema", logicalID)
	}
	for _, a := range p.AttributeDefinitions {
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{
			AttributeName: aws.String(a.AttributeName),
			AttributeType: ddbtypes.ScalarAttributeType(a.AttributeType),
		})
	}
	in.KeySchema = keySchema(p.KeySchema)
	in.ProvisionedThroughput = throughput(p.ProvisionedThroughput)
	provisioned := in.BillingMode == ddbtypes.BillingModeProvisioned
	if provisioned && in.ProvisionedThroughput == nil {
		return nil, nil, fmt.Errorf("%s: BillingMode PROVISIONED needs ProvisionedThroughput", logicalID)
	}
	for _, g := range p.GlobalSecondaryIndexes {
		gsi := ddbtypes.GlobalSecondaryIndex{
			IndexName:  aws.String(g.IndexName),
			KeySchema:  keySchema(g.KeySchema),
			Projection: projection(g.Projection.ProjectionType, g.Projection.NonKeyAttributes),
		}
		if provisioned {
			gsi.ProvisionedThroughput = throughput(g.ProvisionedThroughput)
			if gsi.ProvisionedThroughput == nil {
				return nil, nil, fmt.Errorf("%s: GSI %s needs ProvisionedThroughput under PROVISIONED billing", logicalID, g.IndexName)
			}
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, gsi)
	}
	for _, l := range p.LocalSecondaryIndexes {
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, ddbtypes.LocalSecondaryIndex{
			IndexName:  aws.String(l.IndexName),
			KeySchema:  keySchema(l.KeySchema),
			Projection: projection(l.Projection.ProjectionType, l.Projection.NonKeyAttributes),
		})
	}
	if s := p.StreamSpecification; s != nil && s.StreamViewType != "" {
		in.StreamSpecification = &ddbtypes.StreamSpecification{
			StreamEnabled:  aws.Bool(true),
			StreamViewType: ddbtypes.StreamViewType(s.StreamViewType),
		}
	}
	var ttl *ddbtypes.TimeToLiveSpecification
	if s := p.TimeToLiveSpecification; s != nil && bool(s.Enabled) {
		if s.AttributeName == "" {
			return nil, nil, fmt.Errorf("%s: TimeToLiveSpecification enabled without AttributeName", logicalID)
		}
		ttl = &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(s.AttributeName), Enabled: aws.Bool(true)}
	}
	return in, ttl, nil
}

func keySchema(ks []cfnKey) []ddbtypes.KeySchemaElement {
	out := make([]ddbtypes.KeySchemaElement, 0, len(ks))
	for _, k := range ks {
		out = append(out, ddbtypes.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: ddbtypes.KeyType(k.KeyType)})
	}
	return out
}

func projection(typ string, nonKey []string) *ddbtypes.Projection {
	p := &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionType(typ)}
	if p.ProjectionType == "" {
		p.ProjectionType = ddbtypes.ProjectionTypeKeysOnly // the CloudFormation default
	}
	if len(nonKey) > 0 {
		p.NonKeyAttributes = nonKey
	}
	return p
}

func throughput(t *cfnThroughput) *ddbtypes.ProvisionedThroughput {
	if t == nil {
		return nil
	}
	return &ddbtypes.ProvisionedThroughput{
		ReadCapacityUnits:  aws.Int64(int64(t.ReadCapacityUnits)),
		WriteCapacityUnits: aws.Int64(int64(t.WriteCapacityUnits)),
	}
}

// CreateTableFromTemplate creates tableName from the AWS::DynamoDB::Table
// logicalID of the template (templatePath "" = the repo's template.yaml),
// waits until the table and its indexes are ACTIVE, applies the
// TimeToLiveSpecification, and deletes the table in t.Cleanup.
func CreateTableFromTemplate(t testing.TB, c *dynamodb.Client, templatePath, logicalID, tableName string) {
	t.Helper()
	if tableName == "" {
		t.Fatalf("testenv: CreateTableFromTemplate(%s): empty table name (use testenv.Name)", logicalID)
	}
	tpl, err := LoadTemplate(templatePath)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	in, ttl, err := TableInputFromTemplate(tpl, logicalID, tableName, nil)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ctx := t.Context()
	if _, err := c.CreateTable(ctx, in); err != nil {
		t.Fatalf("testenv: CreateTable %s from %s.%s: %v", tableName, tpl.Path, logicalID, err)
	}
	t.Cleanup(func() {
		// t.Context() is already canceled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(tableName)})
		var nf *ddbtypes.ResourceNotFoundException
		if err != nil && !errors.As(err, &nf) {
			t.Logf("testenv: cleanup: DeleteTable %s: %v", tableName, err)
		}
	})
	if err := waitTableActive(ctx, c, tableName, 60*time.Second); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if ttl != nil {
		if _, err := c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName: aws.String(tableName), TimeToLiveSpecification: ttl,
		}); err != nil {
			t.Fatalf("testenv: UpdateTimeToLive %s: %v", tableName, err)
		}
	}
}

// TableFromTemplate is CreateTableFromTemplate with the repo's template.yaml
// and a generated unique name, which it returns.
func TableFromTemplate(t testing.TB, c *dynamodb.Client, logicalID string) string {
	t.Helper()
	name := Name(t, logicalID)
	CreateTableFromTemplate(t, c, "", logicalID, name)
	return name
}

func waitTableActive(ctx context.Context, c *dynamodb.Client, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err == nil {
			active := out.Table.TableStatus == ddbtypes.TableStatusActive
			for _, g := range out.Table.GlobalSecondaryIndexes {
				active = active && g.IndexStatus == ddbtypes.IndexStatusActive
			}
			if active {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("table %s not ACTIVE after %v (last error: %v)", name, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ---------------------------------------------------------------- SQS

// Queue is a queue created by CreateQueuesFromTemplate.
type Queue struct {
	LogicalID string
	Name      string
	URL       string
	ARN       string
}

// queueProps maps AWS::SQS::Queue properties to SQS attribute names; every
// documented property is listed, so a typo or a new property fails loudly
// instead of being dropped (moto silently ignores unknown attributes).
var queueProps = map[string]string{
	"ContentBasedDeduplication":     "ContentBasedDeduplication",
	"DeduplicationScope":            "DeduplicationScope",
	"DelaySeconds":                  "DelaySeconds",
	"FifoQueue":                     "FifoQueue",
	"FifoThroughputLimit":           "FifoThroughputLimit",
	"KmsDataKeyReusePeriodSeconds":  "KmsDataKeyReusePeriodSeconds",
	"KmsMasterKeyId":                "KmsMasterKeyId",
	"MaximumMessageSize":            "MaximumMessageSize",
	"MessageRetentionPeriod":        "MessageRetentionPeriod",
	"ReceiveMessageWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
	"RedriveAllowPolicy":            "RedriveAllowPolicy",
	"RedrivePolicy":                 "RedrivePolicy",
	"SqsManagedSseEnabled":          "SqsManagedSseEnabled",
	"VisibilityTimeout":             "VisibilityTimeout",
	"QueueName":                     "", // replaced by the test's name
	"Tags":                          "", // passed as CreateQueue tags
}

// defaultSkippedQueueProps are left out by CreateQueuesFromTemplate: there is no
// KMS in the emulator, and a KmsMasterKeyId is usually a !Ref to a key resource.
var defaultSkippedQueueProps = []string{"KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds"}

// neverSkip are the properties the tests depend on.
var neverSkip = map[string]bool{"RedrivePolicy": true, "VisibilityTimeout": true}

// QueueAttributesFromTemplate converts the properties of the AWS::SQS::Queue
// logicalID into CreateQueue attributes and tags. Properties named in skip are
// left out before resolution. References to other resources go through res
// (its GetAtt/Ref callbacks). RedrivePolicy and RedriveAllowPolicy become JSON.
func QueueAttributesFromTemplate(tpl *Template, logicalID string, res *Resolver, skip ...string) (attrs, tags map[string]string, err error) {
	r, err := tpl.Resource(logicalID, TypeSQSQueue)
	if err != nil {
		return nil, nil, err
	}
	if res == nil {
		res = NewResolver(tpl)
	}
	skipped := map[string]bool{}
	for _, s := range skip {
		skipped[s] = true
	}
	attrs, tags = map[string]string{}, map[string]string{}
	keys := make([]string, 0, len(r.Properties))
	for k := range r.Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, prop := range keys {
		attr, known := queueProps[prop]
		if !known {
			return nil, nil, fmt.Errorf("%s (line %d): unknown AWS::SQS::Queue property %s", logicalID, r.Line, prop)
		}
		if skipped[prop] || prop == "QueueName" {
			continue
		}
		v, err := res.Resolve(r.Properties[prop])
		if err != nil {
			return nil, nil, fmt.Errorf("%s.%s: %w", logicalID, prop, err)
		}
		if v == NoValue {
			continue
		}
		switch prop {
		case "Tags":
			list, _ := v.([]any)
			for _, e := range list {
				m, _ := e.(map[string]any)
				tags[scalarString(m["Key"])] = scalarString(m["Value"])
			}
		case "RedrivePolicy", "RedriveAllowPolicy":
			if s, ok := v.(string); ok {
				attrs[attr] = s
				continue
			}
			b, err := json.Marshal(v)
			if err != nil {
				return nil, nil, fmt.Errorf("%s.%s: %w", logicalID, prop, err)
			}
			attrs[attr] = string(b)
		default:
			switch v.(type) {
			case map[string]any, []any:
				return nil, nil, fmt.Errorf("%s.%s: want a scalar, got %v", logicalID, prop, v)
			}
			attrs[attr] = scalarString(v)
		}
	}
	return attrs, tags, nil
}

// QueueOption tunes CreateQueuesFromTemplate.
type QueueOption func(*queueConfig)

type queueConfig struct {
	maxReceiveCount int
	set             map[string]map[string]string // logical id → attribute → value
	skip            []string
}

// WithMaxReceiveCount overrides maxReceiveCount in every RedrivePolicy, so DLQ
// tests need fewer receives.
func WithMaxReceiveCount(n int) QueueOption {
	return func(c *queueConfig) { c.maxReceiveCount = n }
}

// WithQueueAttribute sets (overrides) one SQS attribute of one queue, e.g.
// WithQueueAttribute("CallbackQueue", "VisibilityTimeout", "1").
func WithQueueAttribute(logicalID, attribute, value string) QueueOption {
	return func(c *queueConfig) {
		if c.set == nil {
			c.set = map[string]map[string]string{}
		}
		if c.set[logicalID] == nil {
			c.set[logicalID] = map[string]string{}
		}
		c.set[logicalID][attribute] = value
	}
}

// SkipQueueProperties leaves template properties out (in addition to the KMS
// ones skipped by default). RedrivePolicy and VisibilityTimeout cannot be skipped.
func SkipQueueProperties(props ...string) QueueOption {
	return func(c *queueConfig) { c.skip = append(c.skip, props...) }
}

// CreateQueuesFromTemplate creates every AWS::SQS::Queue of the template
// (templatePath "" = the repo's template.yaml) whose Condition holds, dead
// letter queues first, resolving !GetAtt X.Arn / !Ref X to the created queues.
// names maps logical id → queue name; missing ones get Name(t, logicalID).
// Queues are deleted in t.Cleanup. The result is keyed by logical id.
func CreateQueuesFromTemplate(t testing.TB, c *sqs.Client, templatePath string, names map[string]string, opts ...QueueOption) map[string]Queue {
	t.Helper()
	var cfg queueConfig
	for _, o := range opts {
		o(&cfg)
	}
	skip := append(append([]string(nil), defaultSkippedQueueProps...), cfg.skip...)
	for _, s := range skip {
		if neverSkip[s] {
			t.Fatalf("testenv: %s cannot be skipped", s)
		}
	}
	tpl, err := LoadTemplate(templatePath)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	res := NewResolver(tpl)
	var ids []string
	for _, id := range tpl.ResourcesOfType(TypeSQSQueue) {
		if cond := tpl.Resources[id].Condition; cond != "" {
			ok, err := res.Condition(cond)
			if err != nil {
				t.Fatalf("testenv: %s: %v", id, err)
			}
			if !ok {
				continue
			}
		}
		ids = append(ids, id)
	}
	for id := range names {
		if r, ok := tpl.Resources[id]; !ok || r.Type != TypeSQSQueue {
			t.Fatalf("testenv: names has %q, which is not an AWS::SQS::Queue in %s", id, tpl.Path)
		}
	}
	for id := range cfg.set {
		if r, ok := tpl.Resources[id]; !ok || r.Type != TypeSQSQueue {
			t.Fatalf("testenv: WithQueueAttribute(%q): not an AWS::SQS::Queue in %s", id, tpl.Path)
		}
	}
	order, err := queueOrder(tpl, ids)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}

	created := map[string]Queue{}
	isQueue := map[string]bool{}
	for _, id := range ids {
		isQueue[id] = true
	}
	lookup := func(id string) (Queue, error) {
		if q, ok := created[id]; ok {
			return q, nil
		}
		if isQueue[id] {
			return Queue{}, fmt.Errorf("queue %s is not created yet (dependency cycle?)", id)
		}
		return Queue{}, fmt.Errorf("%s is not a queue created by CreateQueuesFromTemplate", id)
	}
	res.Ref = func(id string) (any, error) {
		q, err := lookup(id)
		return q.URL, err
	}
	res.GetAtt = func(id, attr string) (any, error) {
		q, err := lookup(id)
		if err != nil {
			return nil, err
		}
		switch attr {
		case "Arn":
			return q.ARN, nil
		case "QueueName":
			return q.Name, nil
		case "QueueUrl":
			return q.URL, nil
		}
		return nil, fmt.Errorf("unsupported attribute %s.%s", id, attr)
	}

	ctx := t.Context()
	for _, id := range order {
		attrs, tags, err := QueueAttributesFromTemplate(tpl, id, res, skip...)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		if cfg.maxReceiveCount > 0 && attrs["RedrivePolicy"] != "" {
			var rp map[string]any
			if err := json.Unmarshal([]byte(attrs["RedrivePolicy"]), &rp); err != nil {
				t.Fatalf("testenv: %s RedrivePolicy: %v", id, err)
			}
			rp["maxReceiveCount"] = cfg.maxReceiveCount
			b, _ := json.Marshal(rp)
			attrs["RedrivePolicy"] = string(b)
		}
		for k, v := range cfg.set[id] {
			attrs[k] = v
		}
		name := names[id]
		if name == "" {
			prefix := id
			if attrs["FifoQueue"] == "true" {
				prefix += ".fifo"
			}
			name = Name(t, prefix)
		}
		in := &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs}
		if len(tags) > 0 {
			in.Tags = tags
		}
		out, err := c.CreateQueue(ctx, in)
		if err != nil {
			t.Fatalf("testenv: CreateQueue %s (%s) with %v: %v", name, id, attrs, err)
		}
		url := aws.ToString(out.QueueUrl)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
			var nf *sqstypes.QueueDoesNotExist
			if err != nil && !errors.As(err, &nf) {
				t.Logf("testenv: cleanup: DeleteQueue %s: %v", url, err)
			}
		})
		ga, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
		})
		if err != nil {
			t.Fatalf("testenv: GetQueueAttributes %s: %v", url, err)
		}
		created[id] = Queue{LogicalID: id, Name: name, URL: url, ARN: ga.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]}
	}
	return created
}

// QueuesFromTemplate is CreateQueuesFromTemplate with the repo's template.yaml
// and generated names.
func QueuesFromTemplate(t testing.TB, c *sqs.Client, opts ...QueueOption) map[string]Queue {
	t.Helper()
	return CreateQueuesFromTemplate(t, c, "", nil, opts...)
}

// queueOrder sorts queue ids so that every queue comes after the queues it
// references (Ref, Fn::GetAtt or ${X…} in Fn::Sub); file order otherwise.
func queueOrder(tpl *Template, ids []string) ([]string, error) {
	in := map[string]bool{}
	for _, id := range ids {
		in[id] = true
	}
	deps := map[string][]string{}
	for _, id := range ids {
		seen := map[string]bool{}
		for _, ref := range References(tpl.Resources[id].Properties) {
			if in[ref] && ref != id && !seen[ref] {
				seen[ref] = true
				deps[id] = append(deps[id], ref)
			}
		}
	}
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(id string, path []string) error
	visit = func(id string, path []string) error {
		switch state[id] {
		case 1:
			return fmt.Errorf("queues reference each other in a cycle: %s", strings.Join(append(path, id), " → "))
		case 2:
			return nil
		}
		state[id] = 1
		for _, d := range deps[id] {
			if err := visit(d, append(path, id)); err != nil {
				return err
			}
		}
		state[id] = 2
		order = append(order, id)
		return nil
	}
	for _, id := range ids {
		if err := visit(id, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// References lists the logical ids (and parameter names) referenced from a
// long-form value via Ref, Fn::GetAtt and Fn::Sub; pseudo parameters excluded.
func References(v any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 1 {
				if s, ok := x["Ref"].(string); ok {
					if !strings.HasPrefix(s, "AWS::") {
						out = append(out, s)
					}
					return
				}
				if a, ok := x["Fn::GetAtt"].([]any); ok && len(a) > 0 {
					if s, ok := a[0].(string); ok {
						out = append(out, s)
					}
				}
				if sub, ok := x["Fn::Sub"]; ok {
					tmpl, _ := sub.(string)
					vars := map[string]any{}
					if a, ok := sub.([]any); ok && len(a) == 2 {
						tmpl, _ = a[0].(string)
						vars, _ = a[1].(map[string]any)
						walk(a[1])
					}
					for _, name := range subVariables(tmpl) {
						if _, local := vars[name]; !local {
							out = append(out, name)
						}
					}
					return
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// subVariables returns the resource/parameter names used in a Fn::Sub string
// ("${A}" → A, "${A.Arn}" → A); literals "${!x}" and AWS:: names excluded.
func subVariables(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return out
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			return out
		}
		name := s[i+2 : i+j]
		s = s[i+j+1:]
		if strings.HasPrefix(name, "!") || strings.HasPrefix(name, "AWS::") {
			continue
		}
		name, _, _ = strings.Cut(name, ".")
		out = append(out, name)
	}
}
