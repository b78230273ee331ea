package testenv

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Static settings of every client made here.
const (
	Region          = "us-east-1"
	AccessKeyID     = "test"
	SecretAccessKey = "test"
)

// ClientOption tunes NewDynamoDBClient / NewSQSClient / DynamoDB / SQS.
type ClientOption func(*clientConfig)

type clientConfig struct {
	maxAttempts int
	ddbOptions  []func(*dynamodb.Options)
}

// WithDynamoDBOption adds a DynamoDB client option, e.g. a request meter's middleware.
func WithDynamoDBOption(fn func(*dynamodb.Options)) ClientOption {
	return func(c *clientConfig) { c.ddbOptions = append(c.ddbOptions, fn) }
}

// WithMaxAttempts sets the SDK retryer's maximum attempts (1 = no retries),
// e.g. for tests that expect a call to fail fast while a server is stopped.
// The default retryer and its default attempts (3) are kept otherwise.
func WithMaxAttempts(n int) ClientOption { return func(c *clientConfig) { c.maxAttempts = n } }

// awsConfig is deliberately built by hand instead of config.LoadDefaultConfig,
// so that ~/.aws files, AWS_PROFILE etc. on a developer machine cannot change
// what tests talk to.
func awsConfig(opts []ClientOption) aws.Config {
	var cc clientConfig
	for _, o := range opts {
		o(&cc)
	}
	return aws.Config{
		Region:           Region,
		Credentials:      aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")),
		RetryMaxAttempts: cc.maxAttempts,
	}
}

// NewDynamoDBClient returns a DynamoDB client for endpoint (e.g.
// http://127.0.0.1:18000) with static test credentials in us-east-1.
// Response CRC32 validation is off: DynamoDB Local sends no x-amz-crc32 header
// on error responses, which otherwise makes the SDK log a warning per error.
func NewDynamoDBClient(endpoint string, opts ...ClientOption) *dynamodb.Client {
	var cc clientConfig
	for _, o := range opts {
		o(&cc)
	}
	fns := append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.DisableValidateResponseChecksum = true
	}}, cc.ddbOptions...)
	return dynamodb.NewFromConfig(awsConfig(opts), fns...)
}

// NewSQSClient returns an SQS client for endpoint (e.g. http://127.0.0.1:15000)
// with static test credentials in us-east-1.
func NewSQSClient(endpoint string, opts ...ClientOption) *sqs.Client {
	return sqs.NewFromConfig(awsConfig(opts), func(o *sqs.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	})
}
