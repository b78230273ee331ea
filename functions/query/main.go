// Command query is the records API Lambda (API Gateway HTTP API, payload 2.0). It only
// wires; the logic is in shared/query.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/callkit-records/callkit-records/shared/apigw"
	"github.com/callkit-records/callkit-records/shared/auth"
	"github.com/callkit-records/callkit-records/shared/awsenv"
	"github.com/callkit-records/callkit-records/shared/config"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/query"
	"github.com/callkit-records/callkit-records/shared/ratelimit"
	"github.com/callkit-records/callkit-records/shared/secret"
	"github.com/callkit-records/callkit-records/shared/store/dynamostore"
)

func main() {
	cfg, err := config.FromEnv(os.Getenv)
	log := logging.New(os.Stdout, cfg.LogLevel, "query")
	fail := func(what string, err error) {
		log.Error(what, slog.String("error", err.Error()))
		os.Exit(1)
	}
	if err != nil {
		fail("invalid configuration", err)
	}
	awsCfg, err := awsenv.Config(os.Getenv)
	if err != nil {
		fail("aws configuration", err)
	}
	if cfg.SecretID != "" { // in AWS the key lives in Secrets Manager, read once here
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := secret.Fetch(ctx, secretsmanager.NewFromConfig(awsCfg), cfg.SecretID)
		cancel()
		if err != nil {
			fail("reading the secret key", err)
		}
		if cfg.SecretKeys, err = config.ParseSecretKeys(s, cfg.SDKAppIDs); err != nil {
			fail("secret key format", err)
		}
	}
	if err := cfg.Require(config.QueryRequires...); err != nil {
		fail("invalid configuration", err)
	}
	st := dynamostore.New(dynamodb.NewFromConfig(awsCfg), dynamostore.Options{Table: cfg.TableName, RetentionDays: cfg.RetentionDays, Log: log})
	h := query.New(st, auth.NewVerifier(cfg.SecretKeys, cfg.Admins, nil), ratelimit.New(cfg.QueryRPS), log, nil)
	lambda.Start(apigw.Handler(h))
}
