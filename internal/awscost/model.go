package awscost

import (
	"fmt"
	"math"
)

// Measured is what the cost benchmark (BenchmarkAWSCost) measures against DynamoDB
// Local and moto with the real handlers, plus the template's settings it read.
type Measured struct {
	Callbacks int `json:"callbacks"` // distinct v1 callbacks of realistic calls, in SQS batches of BatchSize
	BatchSize int `json:"batchSize"`

	// DynamoDB, per callback, through the persist handler (ddbmeter).
	WriteRequests float64            `json:"writeRequestsPerCallback"`
	ReadRequests  float64            `json:"readRequestsPerCallback"`
	WCU           float64            `json:"wcuPerCallback"`
	RCU           float64            `json:"rcuPerCallback"`
	ByOperation   map[string]OpPer1k `json:"byOperationPer1000"` // per 1,000 callbacks

	// SQS: messages the webhook sent per callback and their mean size (body + attributes).
	SendsPerCallback float64 `json:"sendsPerCallback"`
	MessageBytes     float64 `json:"messageBytes"`

	// Handler wall time per invocation against the local emulators (mean, ms).
	IngestMs       float64 `json:"ingestMs"`
	PersistBatchMs float64 `json:"persistBatchMs"`

	// Log bytes written by the handlers (JSON lines, as CloudWatch stores them).
	IngestLogBytes       float64 `json:"ingestLogBytesPerCallback"`
	IngestLogEvents      float64 `json:"ingestLogEventsPerCallback"`
	PersistLogBytes      float64 `json:"persistLogBytesPerBatch"`
	PersistLogEvents     float64 `json:"persistLogEventsPerBatch"`
	PlatformLogBytes     float64 `json:"platformLogBytesPerInvocation"` // Lambda's JSON platform.start + platform.report
	PlatformLogEvents    float64 `json:"platformLogEventsPerInvocation"`
	AccessLogBytes       float64 `json:"accessLogBytesPerRequest"` // the template's API Gateway access log format
	IngestMemoryMB       int     `json:"ingestMemoryMB"`
	PersistMemoryMB      int     `json:"persistMemoryMB"`
	QueryMemoryMB        int     `json:"queryMemoryMB"`
	LogRetentionDays     int     `json:"logRetentionDays"`
	DurationSource       string  `json:"durationSource"` // where IngestMs/PersistBatchMs come from
	Queries              []Query `json:"queries"`
	QueryDataCalls       int     `json:"queryDataCalls"` // calls stored when the queries were metered
	QueryDataWindowCalls int     `json:"queryDataWindowCalls"`
}

// OpPer1k is one DynamoDB operation's cost per 1,000 callbacks.
type OpPer1k struct {
	Requests float64 `json:"requests"`
	WCU      float64 `json:"wcu"`
	RCU      float64 `json:"rcu"`
}

// Query is one query kind's measured cost per request.
type Query struct {
	Name      string  `json:"name"`
	Records   int     `json:"records"`
	Requests  int     `json:"requests"` // DynamoDB requests
	RCU       float64 `json:"rcu"`
	Ms        float64 `json:"ms"` // handler wall time against DynamoDB Local
	LogBytes  float64 `json:"logBytes"`
	LogEvents float64 `json:"logEvents"`
}

// Line is one item of the bill.
type Line struct {
	Service  string  `json:"service"`
	Item     string  `json:"item"`
	Quantity float64 `json:"quantity"`
	Unit     string  `json:"unit"`
	USD      float64 `json:"usd"`
	Basis    string  `json:"basis"` // how the quantity follows from the measurements
}

// Bill is a list of lines and their total.
type Bill struct {
	Per   string  `json:"per"`
	Lines []Line  `json:"lines"`
	Total float64 `json:"totalUsd"`
}

func (b *Bill) add(service, item string, qty float64, unit string, p Price, basis string) {
	l := Line{Service: service, Item: item, Quantity: qty, Unit: unit, USD: qty * p.USD, Basis: basis}
	b.Lines = append(b.Lines, l)
	b.Total += l.USD
}

// logEventOverhead is what CloudWatch Logs counts per log event beyond its message
// (the PutLogEvents size rule); the model charges ingestion on message + overhead.
const logEventOverhead = 26

const gb = 1 << 30

// chunks64K is how many SQS requests one API call on a message of n bytes counts as.
func chunks64K(n float64) float64 { return math.Max(1, math.Ceil(n/65536)) }

// billedMs is Lambda's billed duration of one invocation (rounded up to 1 ms).
func billedMs(ms float64) float64 { return math.Max(1, math.Ceil(ms)) }

// PerMillionCallbacks prices 1M callbacks end to end: API Gateway → ingest → SQS →
// persist (batches of BatchSize) → DynamoDB, with CloudWatch Logs for all of it.
func PerMillionCallbacks(m Measured) Bill {
	const n = 1e6
	b := Bill{Per: "1,000,000 callbacks"}
	batches := n / float64(m.BatchSize)

	b.add("API Gateway", "HTTP API requests (webhook)", n, "requests", HTTPAPIRequest,
		"one request per callback; bodies ≪ 512 KB")

	b.add("Lambda", "ingest requests", n, "requests", LambdaRequest, "one invocation per callback")
	ingestGBs := n * billedMs(m.IngestMs) / 1000 * float64(m.IngestMemoryMB) / 1024
	b.add("Lambda", "ingest duration (arm64)", ingestGBs, "GB-s", LambdaArmGBSecond,
		fmt.Sprintf("%.1f ms measured (%s) → %.0f ms billed × %d MB", m.IngestMs, m.DurationSource, billedMs(m.IngestMs), m.IngestMemoryMB))
	b.add("Lambda", "persist requests", batches, "requests", LambdaRequest,
		fmt.Sprintf("one invocation per batch of %d (full batches: sustained traffic)", m.BatchSize))
	persistGBs := batches * billedMs(m.PersistBatchMs) / 1000 * float64(m.PersistMemoryMB) / 1024
	b.add("Lambda", "persist duration (arm64)", persistGBs, "GB-s", LambdaArmGBSecond,
		fmt.Sprintf("%.1f ms per batch measured (%s) → %.0f ms billed × %d MB", m.PersistBatchMs, m.DurationSource, billedMs(m.PersistBatchMs), m.PersistMemoryMB))

	chunks := chunks64K(m.MessageBytes)
	b.add("SQS", "SendMessage", n*m.SendsPerCallback*chunks, "requests", SQSRequest,
		fmt.Sprintf("%.2f sends per callback measured, %.0f-byte messages = %.0f request each", m.SendsPerCallback, m.MessageBytes, chunks))
	recvChunks := chunks64K(float64(m.BatchSize) * m.MessageBytes)
	b.add("SQS", "ReceiveMessage (event source mapping)", batches*recvChunks, "requests", SQSRequest,
		fmt.Sprintf("one receive of %d messages per batch (%.0f request each); idle long polls not included (a fixed monthly amount)", m.BatchSize, recvChunks))
	b.add("SQS", "DeleteMessageBatch (event source mapping)", batches, "requests", SQSRequest,
		"one batch delete per fully successful batch")

	b.add("DynamoDB", "write request units", n*m.WCU, "WRU", DynamoDBWRU,
		fmt.Sprintf("%.3f WCU per callback measured (%.3f write requests)", m.WCU, m.WriteRequests))
	b.add("DynamoDB", "read request units", n*m.RCU, "RRU", DynamoDBRRU,
		fmt.Sprintf("%.3f RCU per callback measured (%.3f read requests)", m.RCU, m.ReadRequests))

	ingestLogs := n*(m.IngestLogBytes+m.IngestLogEvents*logEventOverhead) +
		n*(m.PlatformLogBytes+m.PlatformLogEvents*logEventOverhead)
	persistLogs := batches * (m.PersistLogBytes + m.PersistLogEvents*logEventOverhead +
		m.PlatformLogBytes + m.PlatformLogEvents*logEventOverhead)
	accessLogs := n * (m.AccessLogBytes + logEventOverhead)
	logsGB := (ingestLogs + persistLogs + accessLogs) / gb
	b.add("CloudWatch Logs", "ingestion", logsGB, "GB", LogsIngestion,
		fmt.Sprintf("per callback: ingest %.0f B + Lambda platform %.0f B + access log %.0f B; per batch: persist %.0f B + platform %.0f B; +%d B per event",
			m.IngestLogBytes, m.PlatformLogBytes, m.AccessLogBytes, m.PersistLogBytes, m.PlatformLogBytes, logEventOverhead))
	// Stored compressed; assume ~6:1 for these repetitive JSON lines, kept LogRetentionDays.
	const compression = 6
	months := float64(m.LogRetentionDays) / 30
	b.add("CloudWatch Logs", "storage over the retention period", logsGB/compression*months, "GB-month", LogsStorage,
		fmt.Sprintf("assumed 6:1 compression, kept %d days", m.LogRetentionDays))
	return b
}

// PerMillionQueries prices 1M requests of query kind q.
func PerMillionQueries(m Measured, q Query) Bill {
	const n = 1e6
	b := Bill{Per: "1,000,000 × " + q.Name}
	b.add("API Gateway", "HTTP API requests", n, "requests", HTTPAPIRequest, "responses ≪ 512 KB")
	b.add("Lambda", "query requests", n, "requests", LambdaRequest, "one invocation per request")
	b.add("Lambda", "query duration (arm64)", n*billedMs(q.Ms)/1000*float64(m.QueryMemoryMB)/1024, "GB-s", LambdaArmGBSecond,
		fmt.Sprintf("%.1f ms measured against DynamoDB Local → %.0f ms billed × %d MB", q.Ms, billedMs(q.Ms), m.QueryMemoryMB))
	b.add("DynamoDB", "read request units", n*q.RCU, "RRU", DynamoDBRRU,
		fmt.Sprintf("%.2f RCU in %d requests measured", q.RCU, q.Requests))
	logs := n * (q.LogBytes + q.LogEvents*logEventOverhead + m.PlatformLogBytes + m.PlatformLogEvents*logEventOverhead + m.AccessLogBytes + logEventOverhead) / gb
	b.add("CloudWatch Logs", "ingestion", logs, "GB", LogsIngestion, "handler, platform and access log lines")
	return b
}
