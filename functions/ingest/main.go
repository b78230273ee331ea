// Command ingest is the webhook Lambda: API Gateway HTTP API → validate → SQS → ack.
// It only wires; the logic is in shared/ingest.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/callkit-records/callkit-records/shared/apigw"
	"github.com/callkit-records/callkit-records/shared/awsenv"
	"github.com/callkit-records/callkit-records/shared/config"
	"github.com/callkit-records/callkit-records/shared/ingest"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/queue/sqsqueue"
)

func main() {
	cfg, err := config.FromEnv(os.Getenv)
	if err == nil {
		err = cfg.Require(config.IngestRequires...)
	}
	log := logging.New(os.Stdout, cfg.LogLevel, "ingest")
	if err != nil {
		log.Error("invalid configuration", slog.String("error", err.Error()))
		os.Exit(1)
	}
	awsCfg, err := awsenv.Config(os.Getenv)
	if err != nil {
		log.Error("aws configuration", slog.String("error", err.Error()))
		os.Exit(1)
	}
	h := ingest.New(ingest.ConfigFrom(cfg), sqsqueue.New(sqs.NewFromConfig(awsCfg), cfg.QueueURL), log)
	lambda.Start(apigw.Handler(h))
}
