// Package ddbmeter counts DynamoDB requests and consumed capacity with an SDK
// middleware, for the write-amplification test and the cost figures of `make bench`.
package ddbmeter

import (
	"context"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
)

// Meter accumulates per-operation request counts and capacity units.
type Meter struct {
	mu  sync.Mutex
	ops map[string]*Op
}

// Op is what one operation cost in total.
type Op struct {
	Requests int
	RCU      float64
	WCU      float64
}

// Writes are the operations that write.
var Writes = map[string]bool{"PutItem": true, "UpdateItem": true, "DeleteItem": true, "BatchWriteItem": true, "TransactWriteItems": true}

// New returns an empty meter.
func New() *Meter { return &Meter{ops: map[string]*Op{}} }

// Option installs the meter on a client: dynamodb.NewFromConfig(cfg, m.Option).
func (m *Meter) Option(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("ddbmeter", m.handle), middleware.After)
	})
}

func (m *Meter) handle(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	total := types.ReturnConsumedCapacityTotal
	switch p := in.Parameters.(type) {
	case *dynamodb.PutItemInput:
		p.ReturnConsumedCapacity = total
	case *dynamodb.GetItemInput:
		p.ReturnConsumedCapacity = total
	case *dynamodb.QueryInput:
		p.ReturnConsumedCapacity = total
	case *dynamodb.BatchGetItemInput:
		p.ReturnConsumedCapacity = total
	case *dynamodb.BatchWriteItemInput:
		p.ReturnConsumedCapacity = total
	case *dynamodb.TransactWriteItemsInput:
		p.ReturnConsumedCapacity = total
	}
	out, md, err := next.HandleInitialize(ctx, in)
	name := awsmiddleware.GetOperationName(ctx)
	var caps []types.ConsumedCapacity
	switch r := out.Result.(type) {
	case *dynamodb.PutItemOutput:
		caps = one(r.ConsumedCapacity)
	case *dynamodb.GetItemOutput:
		caps = one(r.ConsumedCapacity)
	case *dynamodb.QueryOutput:
		caps = one(r.ConsumedCapacity)
	case *dynamodb.BatchGetItemOutput:
		caps = r.ConsumedCapacity
	case *dynamodb.BatchWriteItemOutput:
		caps = r.ConsumedCapacity
	case *dynamodb.TransactWriteItemsOutput:
		caps = r.ConsumedCapacity
	}
	m.mu.Lock()
	op := m.ops[name]
	if op == nil {
		op = &Op{}
		m.ops[name] = op
	}
	op.Requests++
	for _, c := range caps {
		units := aws.ToFloat64(c.CapacityUnits)
		if Writes[name] {
			op.WCU += units
		} else {
			op.RCU += units
		}
	}
	m.mu.Unlock()
	return out, md, err
}

func one(c *types.ConsumedCapacity) []types.ConsumedCapacity {
	if c == nil {
		return nil
	}
	return []types.ConsumedCapacity{*c}
}

// Snapshot is a copy of the totals.
type Snapshot map[string]Op

// Snapshot returns the totals so far.
func (m *Meter) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Snapshot{}
	for k, v := range m.ops {
		s[k] = *v
	}
	return s
}

// Reset clears the totals.
func (m *Meter) Reset() {
	m.mu.Lock()
	m.ops = map[string]*Op{}
	m.mu.Unlock()
}

// Totals sums write requests, read requests and the capacity units.
func (s Snapshot) Totals() (writes, reads int, wcu, rcu float64) {
	for name, op := range s {
		if Writes[name] {
			writes += op.Requests
		} else {
			reads += op.Requests
		}
		wcu += op.WCU
		rcu += op.RCU
	}
	return
}

// Names lists the operations seen, sorted.
func (s Snapshot) Names() []string {
	var out []string
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
