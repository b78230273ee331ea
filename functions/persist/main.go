// Command persist is the SQS consumer Lambda: batches of callbacks → call records in
// DynamoDB, with partial batch failures. It only wires; the logic is in shared/persist.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/callkit-records/callkit-records/shared/awsenv"
	"github.com/callkit-records/callkit-records/shared/config"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/persist"
	"github.com/callkit-records/callkit-records/shared/store/dynamostore"
)

func main() {
	cfg, err := config.FromEnv(os.Getenv)
	if err == nil {
		err = cfg.Require(config.PersistRequires...)
	}
	log := logging.New(os.Stdout, cfg.LogLevel, "persist")
	if err != nil {
		log.Error("invalid configuration", slog.String("error", err.Error()))
		os.Exit(1)
	}
	awsCfg, err := awsenv.Config(os.Getenv)
	if err != nil {
		log.Error("aws configuration", slog.String("error", err.Error()))
		os.Exit(1)
	}
	st := dynamostore.New(dynamodb.NewFromConfig(awsCfg), dynamostore.Options{Table: cfg.TableName, RetentionDays: cfg.RetentionDays, Log: log})
	h := persist.New(st, st, log, persist.Options{})
	lambda.Start(h.HandleSQS)
}
