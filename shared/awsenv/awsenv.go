// Package awsenv builds the aws.Config of a Lambda function from its environment.
//
// Lambda hands a function its region and role credentials as environment variables, so
// the Lambda binaries do not link aws-sdk-go-v2/config (about 2 MB of SSO, STS, IMDS and
// profile support they never use; the bootstraps must stay small to start fast). The
// SDK's own AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> overrides keep working because
// Source implements the SDK's service-endpoint config source. Non-Lambda binaries (the
// local server, the CLI) use config.LoadDefaultConfig instead.
package awsenv

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// ErrNoCredentials: the environment has no AWS credentials (not running in Lambda?).
var ErrNoCredentials = errors.New("awsenv: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")

// Config returns an aws.Config for the current environment (getenv is os.Getenv).
func Config(getenv func(string) string) (aws.Config, error) {
	region := getenv("AWS_REGION")
	if region == "" {
		region = getenv("AWS_DEFAULT_REGION")
	}
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return aws.Config{}, ErrNoCredentials
	}
	return aws.Config{
		Region:        region,
		Credentials:   credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN")),
		ConfigSources: []any{Source{getenv: getenv}},
	}, nil
}

// Source resolves service endpoint overrides the way the SDK's environment config does.
type Source struct{ getenv func(string) string }

// GetServiceBaseEndpoint returns AWS_ENDPOINT_URL_<SDK ID> or AWS_ENDPOINT_URL.
func (s Source) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	getenv := s.getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if v := getenv("AWS_ENDPOINT_URL_" + strings.ReplaceAll(strings.ToUpper(sdkID), " ", "_")); v != "" {
		return v, true, nil
	}
	if v := getenv("AWS_ENDPOINT_URL"); v != "" {
		return v, true, nil
	}
	return "", false, nil
}
