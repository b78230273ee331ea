// Package store holds the ports of the record store and what every adapter shares.
// Adapters: dynamostore (DynamoDB, production) and boltstore (embedded, local server).
// storetest is the conformance suite both must pass.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/record"
)

// Sentinel errors; adapters wrap their causes so callers classify with errors.Is.
var (
	ErrNotFound    = errors.New("store: not found")
	ErrConflict    = errors.New("store: concurrent updates kept conflicting")
	ErrUnavailable = errors.New("store: unavailable") // transient: throttling, timeouts, network
	ErrBudget      = errors.New("store: read budget exhausted")
	ErrCorrupt     = errors.New("store: stored item cannot be decoded")
)

// CallKey identifies a call record. Calls of different apps never meet.
type CallKey struct {
	App    uint64
	CallID string
}

// Incoming is one received callback to merge.
type Incoming struct {
	Callback   callback.Callback
	ReceivedAt int64           // Unix milliseconds at the webhook
	Body       json.RawMessage // the callback body as received, kept in the timeline
	// Query is the callback's query parameters as received (nil: rebuilt from Callback).
	Query map[string]string
}

// Update is the callbacks of one call to merge in one go.
type Update struct {
	Key       CallKey
	Callbacks []Incoming
	// Redelivered: a message of this update was received before. An earlier attempt may
	// have failed after some of its derived writes (index entries) landed from a state a
	// concurrent writer has since superseded, so adapters whose writes are not atomic
	// rewrite them even when the merge changes nothing.
	Redelivered bool
}

// Writer merges callbacks into records. It is idempotent: applying the same callbacks
// again changes nothing, in any order, from any number of concurrent writers.
type Writer interface {
	// Apply returns one error per update (nil: merged and durable).
	Apply(ctx context.Context, updates []Update) []error
}

// Filter narrows a listing. Empty fields match everything.
type Filter struct {
	Role      string // with UserID: "caller" or "callee"
	Result    string // v1 callResult
	CallType  string
	MediaType string
	Status    string
}

// Match reports whether r passes the filter (Role is checked by the adapters, which know
// the listed user).
func (f Filter) Match(r *record.Record) bool {
	return (f.Result == "" || f.Result == r.CallResult) &&
		(f.CallType == "" || f.CallType == r.CallType) &&
		(f.MediaType == "" || f.MediaType == r.MediaType) &&
		(f.Status == "" || f.Status == r.Status)
}

// Query selects records by time: IndexTs in [From, To] (Unix seconds, inclusive).
type Query struct {
	App    uint64
	UserID string // "": every call of the app; else the calls the user took part in
	From   int64
	To     int64
	Desc   bool // newest first
	Filter Filter
}

// Position is where a listing stopped: the last index entry examined, in index order.
// A listing resumes strictly after it. CallID "" is a time boundary: ascending listings
// resume at IndexTs, descending ones just before it.
type Position struct {
	IndexTs int64
	CallID  string
}

// Page is one listing page.
type Page struct {
	Records  []record.Record
	Next     *Position // nil when the range is exhausted
	Examined int       // index entries read (an empty index partition read counts as one)
}

// Reader serves the query API. Every method is a key lookup or a bounded index range.
type Reader interface {
	// Get returns a call's record, and its timeline (time order) when withEvents is set.
	Get(ctx context.Context, key CallKey, withEvents bool) (record.Record, []record.Event, error)
	// List returns up to limit matching records after pos (nil: from the start), reading
	// at most budget index entries; a short page with Next != nil means the budget ran out.
	List(ctx context.Context, q Query, after *Position, limit, budget int) (Page, error)
	// Window counts every match in the range and returns those at [offset, offset+limit)
	// (Tencent's page/numberPerPage). ErrBudget when the range holds more than budget
	// index entries.
	Window(ctx context.Context, q Query, offset, limit, budget int) ([]record.Record, int, error)
}

// Store is both sides.
type Store interface {
	Writer
	Reader
}

// Limits shared by the adapters.
const (
	MaxEventsPerCall = 2000 // timeline reads stop here
	DaySeconds       = 86400
)

// TTL returns the expiry (Unix seconds) of a call's items, 0 when records are kept.
// It counts from the later of the call's last event and the time it was written, so a
// call replayed late is still kept for the whole retention period.
func TTL(retentionDays int, lastEventTs, nowSec int64) int64 {
	if retentionDays <= 0 {
		return 0
	}
	return max(lastEventTs, nowSec) + int64(retentionDays)*DaySeconds
}

// Expired reports whether an item with this ttl is gone at nowSec (expired items may
// still be returned by DynamoDB until its background deletion, so readers check).
func Expired(ttl, nowSec int64) bool { return ttl > 0 && ttl <= nowSec }

// EventSortKey orders a call's timeline: time, command, user, then the key's hash.
func EventSortKey(ts int64, command, userID, hash string) string {
	var b strings.Builder
	b.Grow(12 + len(command) + len(userID) + len(hash) + 3)
	b.WriteString(Pad10(ts))
	b.WriteByte('#')
	b.WriteString(command)
	b.WriteByte('#')
	b.WriteString(userID)
	b.WriteByte('#')
	b.WriteString(hash)
	return b.String()
}

// Pad10 renders Unix seconds as 10 digits so that string order is time order.
func Pad10(ts int64) string {
	const digits = "0123456789"
	var b [10]byte
	for i := 9; i >= 0; i-- {
		b[i] = digits[ts%10]
		ts /= 10
	}
	return string(b[:])
}

// Failure is the last recorded reason a queue message failed.
type Failure struct {
	MessageID    string `json:"messageId"`
	Reason       string `json:"reason"`
	ReceiveCount int    `json:"receiveCount"`
	At           int64  `json:"at"` // Unix milliseconds
}

// FailureLog keeps failure reasons for dead-letter tooling.
type FailureLog interface {
	RecordFailure(ctx context.Context, messageID, reason string, receiveCount int) error
	Failure(ctx context.Context, messageID string) (Failure, error)
}
