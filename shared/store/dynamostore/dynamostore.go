// Package dynamostore is the record store on one DynamoDB table (single-table design,
// README "Storage").
//
// Items of a call share the collection PK = C#<app>#<callId>:
//
//	SK #R            the record: st (deflated merge state), ver, f, ttl, GSI1 keys
//	SK E#<sortKey>   one timeline entry per distinct callback: e, b (raw body), ttl
//	SK U#<userId>    one participant entry per user: role, GSI2 keys, ttl
//
// The record itself is derived from st on read (State.Record is pure and cheap), so the
// item stays small: one write unit. GSI ByAppTime (GSI1PK = A#<app>#<yyyymmdd>, GSI1SK =
// <indexTs>#<callId>) projects only f — "result|callType|mediaType|status" — and a
// day-rounded ttl: listings filter and count from the index alone, and the index entry is
// rewritten only when those change. GSI ByUserTime (GSI2PK = U#<app>#<user>, GSI2SK
// likewise) projects role and ttl.
//
// Writes per batch: one BatchWriteItem per 25 items for the timeline entries and the new
// or changed participant entries of all calls, then one conditional PutItem per changed
// record. The condition is an optimistic version: a writer that loses re-reads,
// re-merges, rewrites all participant entries of the merged record and retries. Because
// every writer puts its participant entries before its record, the last successful
// record writer also wrote the participant entries last, so they converge without a
// transaction (which would cost twice the write units). A crash between the two writes
// leaves the record unchanged, so the redelivery rewrites both.
package dynamostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/callkit-records/callkit-records/shared/record"
	"github.com/callkit-records/callkit-records/shared/store"
)

// API is the part of the DynamoDB client the store uses.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Options tune the store.
type Options struct {
	Table           string
	RetentionDays   int              // 0: keep forever
	Now             func() time.Time // default time.Now
	ConflictRetries int              // default 8
	Log             *slog.Logger
}

// Store is a store.Store on DynamoDB.
type Store struct {
	api  API
	opts Options
}

var _ store.Store = (*Store)(nil)

// New returns a store over a client built once at cold start.
func New(api API, opts Options) *Store {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ConflictRetries <= 0 {
		opts.ConflictRetries = 8
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Store{api: api, opts: opts}
}

func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", store.ErrUnavailable, op, err)
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// stored is a record item as read for merging.
type stored struct {
	blob []byte
	ver  int64
	ttl  int64
}

// --- writes ---------------------------------------------------------------------------

// Apply merges the updates (see the package comment for the writes it makes).
func (s *Store) Apply(ctx context.Context, updates []store.Update) []error {
	errs := make([]error, len(updates))
	olds, unread := s.readStates(ctx, updates)
	now := s.opts.Now().Unix()
	merged := make([]store.Merged, len(updates))
	var puts []types.WriteRequest
	owner := map[string]int{} // event item key → update index, to map write failures back
	for i := range updates {
		u := &updates[i]
		if errs[i] = unread[pk(u.Key)]; errs[i] != nil {
			continue // its record could not be read (throttled, corrupt): only this call fails
		}
		old := olds[pk(u.Key)]
		merged[i], errs[i] = store.Merge(u.Key, s.liveBlob(old, now), u.Callbacks)
		if errs[i] != nil {
			continue
		}
		ttl := store.TTL(s.opts.RetentionDays, merged[i].Record.LastEventTs, now)
		for _, e := range merged[i].Events {
			item, err := s.eventItem(u.Key, e, ttl)
			if err != nil {
				errs[i] = err
				break
			}
			owner[pk(u.Key)+"\x00"+skEventPref+e.SortKey] = i
			puts = append(puts, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		}
		if repair(u, old, &merged[i]) {
			merged[i].Participants = merged[i].Record.Participants
		}
		for _, p := range merged[i].Participants {
			owner[pk(u.Key)+"\x00"+skUserPref+p.UserID] = i
			puts = append(puts, participantPut(u.Key, &merged[i].Record, p, now, s.opts.RetentionDays))
		}
	}
	for _, failed := range s.batchWrite(ctx, puts) {
		if i, ok := owner[failed.key]; ok && errs[i] == nil {
			errs[i] = failed.err
		}
	}
	// One conditional write per changed call, a few at a time: they touch different items.
	var wg sync.WaitGroup
	sem := make(chan struct{}, recordWriters)
	for i := range updates {
		if errs[i] != nil || !(merged[i].Changed || repair(&updates[i], olds[pk(updates[i].Key)], &merged[i])) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = s.writeRecord(ctx, &updates[i], olds[pk(updates[i].Key)], merged[i])
		}()
	}
	wg.Wait()
	return errs
}

// repair: a redelivered update whose callbacks are already merged. Its earlier attempt
// may have given up on a version conflict after its participant entries landed from a
// superseded state; rewriting all of them from the current state and then the record
// (unchanged, next version) restores the rule that the last participant writes are
// followed by a successful record write. Costs nothing on first deliveries.
func repair(u *store.Update, old *stored, m *store.Merged) bool {
	return u.Redelivered && old != nil && !m.Changed
}

// recordWriters bounds the concurrent record writes of one batch.
const recordWriters = 8

// liveBlob is the stored state to merge into: none when the record has expired.
func (s *Store) liveBlob(old *stored, now int64) []byte {
	if old == nil || store.Expired(old.ttl, now) {
		return nil
	}
	return old.blob
}

// readStates reads the record items of all updates, strongly consistent, ≤100 per call.
// Keys it could not read (still unprocessed after the retries — a throttled partition —
// in a failed request, or holding an item that cannot be decoded) are returned in unread
// with their error, so that only their calls fail.
func (s *Store) readStates(ctx context.Context, updates []store.Update) (out map[string]*stored, unread map[string]error) {
	out = make(map[string]*stored, len(updates))
	var keys []map[string]types.AttributeValue
	seen := map[string]bool{}
	for _, u := range updates {
		p := pk(u.Key)
		if !seen[p] {
			seen[p] = true
			keys = append(keys, map[string]types.AttributeValue{attrPK: str(p), attrSK: str(skRecord)})
		}
	}
	for len(keys) > 0 {
		n := min(len(keys), 100)
		chunk := keys[:n]
		keys = keys[n:]
		for attempt := 0; len(chunk) > 0; attempt++ {
			res, err := s.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
				s.opts.Table: {Keys: chunk, ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("PK, st, ver, #t"),
					ExpressionAttributeNames: map[string]string{"#t": attrTTL}},
			}})
			if err != nil {
				// After a first partial answer only throttled keys are left, and DynamoDB
				// refuses a request none of whose keys it can serve: those calls fail.
				unread = markUnread(unread, chunk, unavailable("BatchGetItem", err))
				break
			}
			for _, item := range res.Responses[s.opts.Table] {
				st, err := decodeStored(item)
				if err != nil {
					unread = markUnread(unread, []map[string]types.AttributeValue{item}, err)
					continue
				}
				out[item[attrPK].(*types.AttributeValueMemberS).Value] = st
			}
			chunk = res.UnprocessedKeys[s.opts.Table].Keys
			if len(chunk) > 0 {
				if err := backoff(ctx, attempt); err != nil {
					unread = markUnread(unread, chunk, unavailable("BatchGetItem unprocessed keys", err))
					break
				}
			}
		}
	}
	return out, unread
}

func markUnread(unread map[string]error, keys []map[string]types.AttributeValue, err error) map[string]error {
	if unread == nil {
		unread = map[string]error{}
	}
	for _, k := range keys {
		unread[attrString(k[attrPK])] = err
	}
	return unread
}

func decodeStored(item map[string]types.AttributeValue) (*stored, error) {
	st := &stored{}
	b, ok := item[attrState].(*types.AttributeValueMemberB)
	if !ok {
		return nil, fmt.Errorf("%w: record item without state", store.ErrCorrupt)
	}
	blob, err := decompress(b.Value)
	if err != nil {
		return nil, fmt.Errorf("%w: state: %w", store.ErrCorrupt, err)
	}
	st.blob = blob
	st.ver = numAttr(item[attrVer])
	st.ttl = numAttr(item[attrTTL])
	return st, nil
}

func numAttr(v types.AttributeValue) int64 {
	if n, ok := v.(*types.AttributeValueMemberN); ok {
		x, _ := strconv.ParseInt(n.Value, 10, 64)
		return x
	}
	return 0
}

func (s *Store) eventItem(k store.CallKey, e store.EventItem, ttl int64) (map[string]types.AttributeValue, error) {
	ev, err := json.Marshal(e.Event)
	if err != nil {
		return nil, err
	}
	item := map[string]types.AttributeValue{attrPK: str(pk(k)), attrSK: str(skEventPref + e.SortKey), attrEvent: str(string(ev))}
	if len(e.Body) > 0 {
		item[attrBody] = str(string(e.Body))
	}
	if ttl > 0 {
		item[attrTTL] = num(ttl)
	}
	return item, nil
}

type writeFailure struct {
	key string
	err error
}

// batchWrite puts items 25 at a time, retrying unprocessed items with backoff; it
// returns the items that could not be written.
func (s *Store) batchWrite(ctx context.Context, reqs []types.WriteRequest) []writeFailure {
	var failed []writeFailure
	fail := func(rs []types.WriteRequest, err error) {
		for _, r := range rs {
			it := r.PutRequest.Item
			failed = append(failed, writeFailure{key: attrString(it[attrPK]) + "\x00" + attrString(it[attrSK]), err: err})
		}
	}
	for len(reqs) > 0 {
		n := min(len(reqs), 25)
		chunk := reqs[:n]
		reqs = reqs[n:]
		for attempt := 0; len(chunk) > 0; attempt++ {
			res, err := s.api.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{s.opts.Table: chunk}})
			if err != nil {
				fail(chunk, unavailable("BatchWriteItem", err))
				break
			}
			chunk = res.UnprocessedItems[s.opts.Table]
			if len(chunk) > 0 {
				if err := backoff(ctx, attempt); err != nil {
					fail(chunk, unavailable("BatchWriteItem unprocessed items", err))
					break
				}
			}
		}
	}
	return failed
}

// backoff sleeps before retry attempt (full jitter, 25 ms base, capped), giving up after
// eight attempts or when ctx ends.
func backoff(ctx context.Context, attempt int) error {
	if attempt >= 8 {
		return errors.New("retries exhausted")
	}
	d := time.Duration(rand.Int64N(int64(25*time.Millisecond) << min(attempt, 5)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeRecord writes a changed record conditionally on the version it was merged from;
// on a conflict it re-reads, re-merges and retries.
func (s *Store) writeRecord(ctx context.Context, u *store.Update, old *stored, m store.Merged) error {
	for attempt := 0; ; attempt++ {
		err := s.putRecord(ctx, u.Key, old, m)
		if err == nil || !isConditionFailure(err) {
			return err
		}
		if attempt >= s.opts.ConflictRetries {
			return fmt.Errorf("%w: call %s", store.ErrConflict, u.Key.CallID)
		}
		if err := backoff(ctx, min(attempt, 4)); err != nil {
			return unavailable("conflict backoff", err)
		}
		if old, err = s.readOne(ctx, u.Key); err != nil {
			return err
		}
		now := s.opts.Now().Unix()
		m, err = store.Merge(u.Key, s.liveBlob(old, now), u.Callbacks)
		if err != nil {
			return err
		}
		// Our earlier participant puts may have landed after the winner's: rewrite them all
		// from the merged state before trying again — also when the winner already merged
		// our callbacks (!m.Changed): the record is then written unchanged, so that the last
		// participant writes are always followed by a successful record write.
		var puts []types.WriteRequest
		for _, p := range m.Record.Participants {
			puts = append(puts, participantPut(u.Key, &m.Record, p, now, s.opts.RetentionDays))
		}
		if f := s.batchWrite(ctx, puts); len(f) > 0 {
			return f[0].err
		}
	}
}

// participantPut is the user-index entry of one participant.
func participantPut(k store.CallKey, r *record.Record, p record.Participant, now int64, retentionDays int) types.WriteRequest {
	item := map[string]types.AttributeValue{
		attrPK: str(pk(k)), attrSK: str(skUserPref + p.UserID), attrRole: str(p.Role),
		attrGSI2PK: str(userPK(k.App, p.UserID)), attrGSI2SK: str(timeSK(r.IndexTs, k.CallID)),
	}
	if ttl := dayTTL(store.TTL(retentionDays, r.LastEventTs, now)); ttl > 0 {
		item[attrTTL] = num(ttl + store.DaySeconds) // outlive the record a little: its ttl may grow
	}
	return types.WriteRequest{PutRequest: &types.PutRequest{Item: item}}
}

func (s *Store) readOne(ctx context.Context, k store.CallKey) (*stored, error) {
	res, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.opts.Table), ConsistentRead: aws.Bool(true),
		Key:                      map[string]types.AttributeValue{attrPK: str(pk(k)), attrSK: str(skRecord)},
		ProjectionExpression:     aws.String("st, ver, #t"),
		ExpressionAttributeNames: map[string]string{"#t": attrTTL},
	})
	if err != nil {
		return nil, unavailable("GetItem", err)
	}
	if res.Item == nil {
		return nil, nil
	}
	return decodeStored(res.Item)
}

func isConditionFailure(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return true
	}
	return false
}

func (s *Store) putRecord(ctx context.Context, k store.CallKey, old *stored, m store.Merged) error {
	now := s.opts.Now().Unix()
	r := &m.Record
	ttl := dayTTL(store.TTL(s.opts.RetentionDays, r.LastEventTs, now))
	blob, err := compress(m.Blob)
	if err != nil {
		return err
	}
	var ver int64
	cond := "attribute_not_exists(PK)"
	var vals map[string]types.AttributeValue
	if old != nil {
		ver = old.ver
		cond = "ver = :v"
		vals = map[string]types.AttributeValue{":v": num(ver)}
	}
	item := map[string]types.AttributeValue{
		attrPK: str(pk(k)), attrSK: str(skRecord),
		attrState: &types.AttributeValueMemberB{Value: blob}, attrVer: num(ver + 1), attrFilter: str(filterSummary(r)),
		attrGSI1PK: str(dayBucket(k.App, r.IndexTs)), attrGSI1SK: str(timeSK(r.IndexTs, k.CallID)),
	}
	if ttl > 0 {
		item[attrTTL] = num(ttl)
	}
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.opts.Table), Item: item, ConditionExpression: aws.String(cond), ExpressionAttributeValues: vals})
	if err != nil && !isConditionFailure(err) {
		return unavailable("PutItem", err)
	}
	return err
}

// dayTTL rounds an expiry up to the next UTC midnight, so the projected ttl of an index
// entry does not change (and cost an index write) with every event of a call.
func dayTTL(ttl int64) int64 {
	if ttl == 0 {
		return 0
	}
	return dayStart(ttl-1) + store.DaySeconds
}

// filterSummary is what the app index needs to filter and count without the record.
func filterSummary(r *record.Record) string {
	return r.CallResult + "|" + r.CallType + "|" + r.MediaType + "|" + r.Status
}

// --- reads ----------------------------------------------------------------------------

// Get reads the call's record, and with withEvents its timeline, in one Query of the
// item collection (the record sorts first, then the events; participants are excluded).
func (s *Store) Get(ctx context.Context, k store.CallKey, withEvents bool) (record.Record, []record.Event, error) {
	now := s.opts.Now().Unix()
	if !withEvents {
		res, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:                aws.String(s.opts.Table),
			Key:                      map[string]types.AttributeValue{attrPK: str(pk(k)), attrSK: str(skRecord)},
			ProjectionExpression:     aws.String("st, #t"),
			ExpressionAttributeNames: map[string]string{"#t": attrTTL},
		})
		if err != nil {
			return record.Record{}, nil, unavailable("GetItem", err)
		}
		r, err := decodeRecord(res.Item, now)
		return r, nil, err
	}
	var r record.Record
	var evs []record.Event
	found := false
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.opts.Table),
		KeyConditionExpression:    aws.String("PK = :pk AND SK BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk(k)), ":lo": str(skRecord), ":hi": str(skAfterEvent)},
		ProjectionExpression:      aws.String("SK, st, e, #t"),
		ExpressionAttributeNames:  map[string]string{"#t": attrTTL},
	}
	for {
		res, err := s.api.Query(ctx, in)
		if err != nil {
			return record.Record{}, nil, unavailable("Query", err)
		}
		for _, item := range res.Items {
			if attrString(item[attrSK]) == skRecord {
				if r, err = decodeRecord(item, now); err != nil {
					return r, nil, err
				}
				found = true
				continue
			}
			var e record.Event
			if err := json.Unmarshal([]byte(attrString(item[attrEvent])), &e); err != nil {
				return r, nil, fmt.Errorf("%w: event: %w", store.ErrCorrupt, err)
			}
			evs = append(evs, e)
		}
		if res.LastEvaluatedKey == nil || len(evs) >= store.MaxEventsPerCall {
			break
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
	if !found {
		return record.Record{}, nil, store.ErrNotFound
	}
	if evs == nil {
		evs = []record.Event{}
	}
	return r, evs, nil
}

// decodeRecord derives the record from a stored item's state.
func decodeRecord(item map[string]types.AttributeValue, now int64) (record.Record, error) {
	if item == nil || store.Expired(numAttr(item[attrTTL]), now) {
		return record.Record{}, store.ErrNotFound
	}
	st, err := decodeStored(item)
	if err != nil {
		return record.Record{}, err
	}
	state, err := record.UnmarshalState(st.blob)
	if err != nil {
		return record.Record{}, fmt.Errorf("%w: %w", store.ErrCorrupt, err)
	}
	return state.Record(), nil
}
