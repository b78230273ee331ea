package testenv_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/callkit-records/callkit-records/internal/testenv"
)

// A template shaped like the one the project is growing into: SAM transform,
// Globals, Parameters, Conditions, Mappings, functions, an HTTP API, alarms and
// every short-form tag. Q is listed before its DLQ on purpose.
const richTemplate = `
AWSTemplateFormatVersion: 2010-09-09
Transform: AWS::Serverless-2016-10-31
Description: rich
Parameters:
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
  AlarmEmail:
    Type: String
    Default: ""
  Subnets:
    Type: CommaDelimitedList
    Default: "a, b"
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  HasEmail: !Not [!Equals [!Ref AlarmEmail, ""]]
  ProdWithEmail: !And [!Condition IsProd, !Condition HasEmail]
  DevOrEmail: !Or [!Not [!Condition IsProd], !Condition HasEmail]
Mappings:
  StageMap:
    dev: {Retention: 86400}
    prod: {Retention: 1209600}
Globals:
  Function:
    Runtime: provided.al2023
    Architectures: [arm64]
    Handler: bootstrap
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      StageName: !Ref Stage
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: bin/
      Environment:
        Variables:
          TABLE: !Ref Table
          QUEUE_URL: !Ref Q
          ARN: !Sub "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${Q.QueueName}"
          LIT: !Sub "${!Literal}-${Stage}"
          JOINED: !Join ["-", [!Ref Stage, !Select [1, !Ref Subnets]]]
          B64: !Base64 hi
      Events:
        Sqs:
          Type: SQS
          Properties:
            Queue: !GetAtt Q.Arn
            FunctionResponseTypes: [ReportBatchItemFailures]
      Policies:
        - DynamoDBCrudPolicy: {TableName: !Ref Table}
  Topic:
    Type: AWS::SNS::Topic
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Condition: HasEmail
    DependsOn: [Topic]
    Properties:
      AlarmActions: !If [HasEmail, [!Ref Topic], !Ref AWS::NoValue]
      Dimensions:
        - Name: QueueName
          Value: !GetAtt [DLQ, QueueName]
  Q:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: !If [IsProd, 180, 45]
      MessageRetentionPeriod: !FindInMap [StageMap, !Ref Stage, Retention]
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DLQ.Arn
        maxReceiveCount: 3
      Tags:
        - Key: stage
          Value: !Ref Stage
  DLQ:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
      SqsManagedSseEnabled: true
      KmsMasterKeyId: !Ref Key
  ProdOnlyQueue:
    Type: AWS::SQS::Queue
    Condition: IsProd
    Properties: {}
  Key:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy: {Version: "2012-10-17"}
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-t"
      BillingMode: PROVISIONED
      ProvisionedThroughput: {ReadCapacityUnits: "5", WriteCapacityUnits: 5}
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: N}
        - {AttributeName: g, AttributeType: S}
        - {AttributeName: l, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: G
          KeySchema: [{AttributeName: g, KeyType: HASH}]
          Projection: {ProjectionType: KEYS_ONLY}
          ProvisionedThroughput: {ReadCapacityUnits: 1, WriteCapacityUnits: 1}
      LocalSecondaryIndexes:
        - IndexName: L
          KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: l, KeyType: RANGE}]
          Projection: {ProjectionType: ALL}
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
      TimeToLiveSpecification: {AttributeName: exp, Enabled: "false"}
      DeletionProtectionEnabled: !If [IsProd, true, false]
      Tags: [{Key: a, Value: b}]
Outputs:
  ApiUrl:
    Value: !Sub "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"
`

func writeTemplate(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "template.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadRepoTemplate(t *testing.T) {
	tpl, err := testenv.LoadTemplate("")
	if err != nil {
		t.Fatal(err)
	}
	for id, typ := range map[string]string{
		"CallsTable":              testenv.TypeDynamoDBTable,
		"CallbackQueue":           testenv.TypeSQSQueue,
		"CallbackDeadLetterQueue": testenv.TypeSQSQueue,
	} {
		if _, err := tpl.Resource(id, typ); err != nil {
			t.Error(err)
		}
	}
	rp := tpl.Resources["CallbackQueue"].Properties["RedrivePolicy"].(map[string]any)
	want := map[string]any{"Fn::GetAtt": []any{"CallbackDeadLetterQueue", "Arn"}}
	if !reflect.DeepEqual(rp["deadLetterTargetArn"], want) {
		t.Errorf("deadLetterTargetArn = %#v, want %#v", rp["deadLetterTargetArn"], want)
	}
	if n := tpl.Resources["CallbackQueue"].PropertiesNode; n == nil || n.Kind == 0 {
		t.Error("PropertiesNode missing")
	}
}

func TestParseRichTemplate(t *testing.T) {
	tpl, err := testenv.LoadTemplate(writeTemplate(t, richTemplate))
	if err != nil {
		t.Fatal(err)
	}
	if tpl.FormatVersion != "2010-09-09" {
		t.Errorf("FormatVersion = %q", tpl.FormatVersion)
	}
	if got := tpl.Globals["Function"].(map[string]any)["Runtime"]; got != "provided.al2023" {
		t.Errorf("Globals.Function.Runtime = %v", got)
	}
	if got, want := tpl.Order, []string{"Api", "Fn", "Topic", "Alarm", "Q", "DLQ", "ProdOnlyQueue", "Key", "Table"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Order = %v, want %v", got, want)
	}
	if got := tpl.ResourcesOfType(testenv.TypeSQSQueue); !reflect.DeepEqual(got, []string{"Q", "DLQ", "ProdOnlyQueue"}) {
		t.Errorf("queues = %v", got)
	}
	if a := tpl.Resources["Alarm"]; a.Condition != "HasEmail" || !reflect.DeepEqual(a.DependsOn, []string{"Topic"}) {
		t.Errorf("Alarm condition/depends = %q %v", a.Condition, a.DependsOn)
	}
	if _, err := tpl.Resource("Nope", ""); err == nil {
		t.Error("Resource(Nope) did not fail")
	}
	if _, err := tpl.Resource("Q", testenv.TypeDynamoDBTable); err == nil {
		t.Error("Resource(Q, table) did not fail")
	}

	res := testenv.NewResolver(tpl)
	res.Ref = func(id string) (any, error) { return "ref:" + id, nil }
	res.GetAtt = func(id, attr string) (any, error) { return "att:" + id + "." + attr, nil }
	env, err := res.Resolve(tpl.Resources["Fn"].Properties["Environment"])
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"Variables": map[string]any{
		"TABLE":     "ref:Table",
		"QUEUE_URL": "ref:Q",
		"ARN":       "arn:aws:sqs:us-east-1:123456789012:att:Q.QueueName",
		"LIT":       "${Literal}-dev",
		"JOINED":    "dev-b",
		"B64":       "aGk=",
	}}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("Environment =\n%#v\nwant\n%#v", env, want)
	}
	for cond, want := range map[string]bool{"IsProd": false, "HasEmail": false, "ProdWithEmail": false, "DevOrEmail": true} {
		if got, err := res.Condition(cond); err != nil || got != want {
			t.Errorf("Condition(%s) = %v, %v; want %v", cond, got, err, want)
		}
	}
	alarm, err := res.Resolve(tpl.Resources["Alarm"].Properties)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := alarm.(map[string]any)["AlarmActions"]; ok {
		t.Errorf("AWS::NoValue not dropped: %v", alarm)
	}

	prod := &testenv.Resolver{Template: tpl, Parameters: map[string]any{"Stage": "prod", "AlarmEmail": "x@y"}}
	for cond, want := range map[string]bool{"IsProd": true, "HasEmail": true, "ProdWithEmail": true} {
		if got, err := prod.Condition(cond); err != nil || got != want {
			t.Errorf("prod Condition(%s) = %v, %v; want %v", cond, got, err, want)
		}
	}
	if _, err := prod.Resolve(tpl.Resources["Alarm"].Properties); err == nil {
		t.Error("Ref to a resource without a Ref callback did not fail")
	}

	// Table conversion, incl. string numbers, provisioned GSI, LSI, stream, disabled TTL.
	in, ttl, err := testenv.TableInputFromTemplate(tpl, "Table", "tbl", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ttl != nil {
		t.Errorf("ttl = %+v, want nil (Enabled: \"false\")", ttl)
	}
	if aws.ToString(in.TableName) != "tbl" || in.BillingMode != ddbtypes.BillingModeProvisioned ||
		aws.ToInt64(in.ProvisionedThroughput.ReadCapacityUnits) != 5 || len(in.AttributeDefinitions) != 4 ||
		len(in.GlobalSecondaryIndexes) != 1 || in.GlobalSecondaryIndexes[0].ProvisionedThroughput == nil ||
		len(in.LocalSecondaryIndexes) != 1 || in.LocalSecondaryIndexes[0].Projection.ProjectionType != ddbtypes.ProjectionTypeAll ||
		in.StreamSpecification == nil || in.StreamSpecification.StreamViewType != ddbtypes.StreamViewTypeNewAndOldImages {
		b, _ := json.MarshalIndent(in, "", " ")
		t.Errorf("unexpected CreateTableInput:\n%s", b)
	}

	// Queue attributes: KMS skipped, bools/ints as strings, RedrivePolicy as JSON.
	res = testenv.NewResolver(tpl)
	res.GetAtt = func(id, attr string) (any, error) { return "arn:aws:sqs:us-east-1:123456789012:" + id, nil }
	attrs, tags, err := testenv.QueueAttributesFromTemplate(tpl, "Q", res)
	if err != nil {
		t.Fatal(err)
	}
	wantAttrs := map[string]string{
		"VisibilityTimeout":      "45",
		"MessageRetentionPeriod": "86400",
		"RedrivePolicy":          `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:DLQ","maxReceiveCount":3}`,
	}
	if !reflect.DeepEqual(attrs, wantAttrs) || !reflect.DeepEqual(tags, map[string]string{"stage": "dev"}) {
		t.Errorf("Q attrs = %v tags = %v", attrs, tags)
	}
	attrs, _, err = testenv.QueueAttributesFromTemplate(tpl, "DLQ", res, "KmsMasterKeyId")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(attrs, map[string]string{"MessageRetentionPeriod": "1209600", "SqsManagedSseEnabled": "true"}) {
		t.Errorf("DLQ attrs = %v", attrs)
	}
	refs := map[string]bool{}
	for _, r := range testenv.References(tpl.Resources["Q"].Properties) {
		refs[r] = true
	}
	if !reflect.DeepEqual(refs, map[string]bool{"DLQ": true, "Stage": true}) {
		t.Errorf("References(Q) = %v", refs)
	}
	refs = map[string]bool{}
	for _, r := range testenv.References(tpl.Resources["Fn"].Properties) {
		refs[r] = true
	}
	if !reflect.DeepEqual(refs, map[string]bool{"Table": true, "Q": true, "Stage": true, "Subnets": true}) {
		t.Errorf("References(Fn) = %v", refs)
	}
}

func TestUnknownQueuePropertyFails(t *testing.T) {
	tpl, err := testenv.ParseTemplate([]byte("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisiblityTimeout: 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := testenv.QueueAttributesFromTemplate(tpl, "Q", nil); err == nil {
		t.Fatal("typo VisiblityTimeout accepted")
	} else {
		t.Logf("ok: %v", err)
	}
}

func TestRepoTableInput(t *testing.T) {
	tpl, err := testenv.LoadTemplate("")
	if err != nil {
		t.Fatal(err)
	}
	in, ttl, err := testenv.TableInputFromTemplate(tpl, "CallsTable", "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if in.BillingMode != ddbtypes.BillingModePayPerRequest || in.ProvisionedThroughput != nil {
		t.Errorf("billing = %v %v", in.BillingMode, in.ProvisionedThroughput)
	}
	if ttl == nil || aws.ToString(ttl.AttributeName) != "ttl" {
		t.Errorf("ttl = %+v", ttl)
	}
	got := map[string][]string{}
	for _, g := range in.GlobalSecondaryIndexes {
		if g.Projection.ProjectionType != ddbtypes.ProjectionTypeInclude || g.ProvisionedThroughput != nil {
			t.Errorf("GSI %s: %+v", aws.ToString(g.IndexName), g)
		}
		got[aws.ToString(g.IndexName)] = g.Projection.NonKeyAttributes
	}
	want := map[string][]string{"ByAppTime": {"f", "ttl"}, "ByUserTime": {"role", "ttl"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GSIs = %v, want %v", got, want)
	}
}
