// Package awscost turns what `make bench` measures (DynamoDB requests and capacity units,
// Lambda durations, SQS messages, log bytes) into the AWS bill per 1M callbacks and per
// query, at us-east-1 list prices, with every assumption written next to its figure.
package awscost

// Price is one list price in USD per Unit.
type Price struct {
	Name   string  `json:"name"`
	Unit   string  `json:"unit"`
	USD    float64 `json:"usd"`
	Source string  `json:"source"`
}

// PricesAsOf is when the prices below were looked up (us-east-1, on-demand, no free
// tier, first volume tier; they change — check the sources before relying on them).
const PricesAsOf = "2026-12-01"

// Region the prices are for.
const Region = "us-east-1"

// List prices (us-east-1).
var (
	LambdaArmGBSecond = Price{"Lambda duration, arm64", "GB-second", 0.0000133334,
		"https://aws.amazon.com/lambda/pricing/ (first 7.5 billion GB-s/month; billed per 1 ms)"}
	LambdaRequest = Price{"Lambda requests", "request", 0.20 / 1e6,
		"https://aws.amazon.com/lambda/pricing/ ($0.20 per 1M requests)"}
	HTTPAPIRequest = Price{"API Gateway HTTP API", "request", 1.00 / 1e6,
		"https://aws.amazon.com/api-gateway/pricing/ ($1.00 per 1M for the first 300M/month; metered per 512 KB)"}
	SQSRequest = Price{"SQS standard queue", "request", 0.40 / 1e6,
		"https://aws.amazon.com/sqs/pricing/ ($0.40 per 1M requests; each 64 KB chunk of a payload is one request)"}
	DynamoDBWRU = Price{"DynamoDB on-demand write request unit", "WRU", 0.625 / 1e6,
		"https://aws.amazon.com/dynamodb/pricing/on-demand/ ($0.625 per 1M WRU since the Nov 2024 reduction; Standard table class)"}
	DynamoDBRRU = Price{"DynamoDB on-demand read request unit", "RRU", 0.125 / 1e6,
		"https://aws.amazon.com/dynamodb/pricing/on-demand/ ($0.125 per 1M RRU)"}
	LogsIngestion = Price{"CloudWatch Logs ingestion (Standard)", "GB", 0.50,
		"https://aws.amazon.com/cloudwatch/pricing/ ($0.50/GB; Lambda logs are tiered vended logs since May 2025, first tier $0.50/GB)"}
	LogsStorage = Price{"CloudWatch Logs storage", "GB-month", 0.03,
		"https://aws.amazon.com/cloudwatch/pricing/ ($0.03 per GB-month, compressed)"}
)

// Prices lists every price the model uses.
func Prices() []Price {
	return []Price{LambdaArmGBSecond, LambdaRequest, HTTPAPIRequest, SQSRequest, DynamoDBWRU, DynamoDBRRU, LogsIngestion, LogsStorage}
}
