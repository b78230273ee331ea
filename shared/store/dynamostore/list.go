package dynamostore

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/callkit-records/callkit-records/shared/record"
	"github.com/callkit-records/callkit-records/shared/store"
)

// entry is one index entry: the app index carries the filter summary, the user index
// the user's role.
type entry struct {
	pos     store.Position
	summary string
	role    string
	expired bool
}

// scan reads q's index range in order after pos, handing each page of entries to fn,
// which returns how many it consumed and whether to go on. At most budget entries are
// read (an empty partition read counts as one). It returns the position after the last
// consumed entry and whether the range was exhausted.
func (s *Store) scan(ctx context.Context, q store.Query, after *store.Position, budget, page int, fn func([]entry) (int, bool, error)) (*store.Position, int, bool, error) {
	now := s.opts.Now().Unix()
	var last *store.Position
	examined := 0
	// run queries one partition until it is exhausted (true) or fn stops (false).
	run := func(in *dynamodb.QueryInput, skAttr string) (bool, error) {
		for {
			if examined >= budget {
				return false, nil
			}
			in.Limit = aws.Int32(int32(min(budget-examined, page)))
			page = min(page*2, 1000) // pages grow while a filter keeps rejecting
			res, err := s.api.Query(ctx, in)
			if err != nil {
				return false, unavailable("Query "+aws.ToString(in.IndexName), err)
			}
			if len(res.Items) == 0 {
				examined++ // an empty read still costs: it counts against the budget
			}
			es := make([]entry, 0, len(res.Items))
			for _, item := range res.Items {
				pos, ok := parseTimeSK(attrString(item[skAttr]))
				if !ok {
					return false, fmt.Errorf("%w: index key %q", store.ErrCorrupt, attrString(item[skAttr]))
				}
				es = append(es, entry{pos: pos, summary: attrString(item[attrFilter]), role: attrString(item[attrRole]),
					expired: store.Expired(numAttr(item[attrTTL]), now)})
			}
			n, more, err := fn(es)
			examined += len(es)
			if n > 0 {
				last = &es[n-1].pos
			}
			if err != nil || !more {
				return false, err
			}
			if res.LastEvaluatedKey == nil {
				return true, nil
			}
			in.ExclusiveStartKey = res.LastEvaluatedKey
		}
	}

	if q.UserID != "" {
		in := &dynamodb.QueryInput{
			TableName:              aws.String(s.opts.Table),
			IndexName:              aws.String(IndexByUser),
			KeyConditionExpression: aws.String("GSI2PK = :pk AND GSI2SK BETWEEN :lo AND :hi"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": str(userPK(q.App, q.UserID)), ":lo": str(store.Pad10(q.From)), ":hi": str(store.Pad10(q.To + 1)),
			},
			ScanIndexForward: aws.Bool(!q.Desc),
		}
		if after != nil {
			in.ExclusiveStartKey = map[string]types.AttributeValue{
				attrPK: str(pk(store.CallKey{App: q.App, CallID: after.CallID})), attrSK: str(skUserPref + q.UserID),
				attrGSI2PK: str(userPK(q.App, q.UserID)), attrGSI2SK: str(timeSK(after.IndexTs, after.CallID)),
			}
		}
		done, err := run(in, attrGSI2SK)
		return last, examined, done, err
	}

	// The app index has one partition per UTC day, read newest or oldest first.
	first, end, step := dayStart(q.From), dayStart(q.To), int64(store.DaySeconds)
	if q.Desc {
		first, end, step = end, first, -step
	}
	if after != nil {
		first = dayStart(after.IndexTs)
	}
	for day := first; (step > 0 && day <= end) || (step < 0 && day >= end); day += step {
		in := &dynamodb.QueryInput{
			TableName:              aws.String(s.opts.Table),
			IndexName:              aws.String(IndexByApp),
			KeyConditionExpression: aws.String("GSI1PK = :pk AND GSI1SK BETWEEN :lo AND :hi"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": str(dayBucket(q.App, day)), ":lo": str(store.Pad10(q.From)), ":hi": str(store.Pad10(q.To + 1)),
			},
			ScanIndexForward: aws.Bool(!q.Desc),
		}
		if after != nil && dayStart(after.IndexTs) == day {
			in.ExclusiveStartKey = map[string]types.AttributeValue{
				attrPK: str(pk(store.CallKey{App: q.App, CallID: after.CallID})), attrSK: str(skRecord),
				attrGSI1PK: str(dayBucket(q.App, day)), attrGSI1SK: str(timeSK(after.IndexTs, after.CallID)),
			}
		}
		done, err := run(in, attrGSI1SK)
		if err != nil || !done {
			return last, examined, false, err
		}
		// The day is done: resume past it (a position without a call id is a boundary).
		if q.Desc {
			last = &store.Position{IndexTs: day}
		} else {
			last = &store.Position{IndexTs: day + store.DaySeconds}
		}
	}
	return last, examined, true, nil
}

// summaryMatch applies a filter to an app-index entry's summary.
func summaryMatch(summary string, f store.Filter) bool {
	parts := strings.SplitN(summary, "|", 4)
	if len(parts) != 4 {
		return false
	}
	return (f.Result == "" || f.Result == parts[0]) && (f.CallType == "" || f.CallType == parts[1]) &&
		(f.MediaType == "" || f.MediaType == parts[2]) && (f.Status == "" || f.Status == parts[3])
}

// indexMatch: the part of the filter the index entry can decide.
func indexMatch(q store.Query, e entry) bool {
	if e.expired {
		return false
	}
	if q.UserID == "" {
		return summaryMatch(e.summary, q.Filter)
	}
	return q.Filter.Role == "" || e.role == q.Filter.Role
}

// needsRecord: the user index cannot decide record fields; the record must be read.
func needsRecord(q store.Query) bool {
	f := q.Filter
	return q.UserID != "" && (f.Result != "" || f.CallType != "" || f.MediaType != "" || f.Status != "")
}

// userMatch: a participant entry is written just before its record; until the record is,
// the entry may point at a version without the user, which is not shown.
func userMatch(q store.Query, r *record.Record) bool {
	return q.UserID == "" || r.HasUser(q.UserID)
}

// hydrator reads records for index entries in BatchGetItem chunks, looking ahead within a
// page so consecutive entries share one request.
type hydrator struct {
	s     *Store
	ctx   context.Context
	app   uint64
	cache map[string]*record.Record // nil value: gone (expired or deleted)
}

func (h *hydrator) get(es []entry, i int, want func(entry) bool, ahead int) (*record.Record, error) {
	if r, ok := h.cache[es[i].pos.CallID]; ok {
		return r, nil
	}
	var ids []string
	for j := i; j < len(es) && len(ids) < max(ahead, 1); j++ {
		if _, ok := h.cache[es[j].pos.CallID]; !ok && (j == i || want(es[j])) {
			ids = append(ids, es[j].pos.CallID)
		}
	}
	recs, err := h.s.batchGetRecords(h.ctx, h.app, ids)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		h.cache[id] = recs[id]
	}
	return h.cache[es[i].pos.CallID], nil
}

// batchGetRecords reads records by call id (≤100 per request), retrying unprocessed keys.
func (s *Store) batchGetRecords(ctx context.Context, app uint64, ids []string) (map[string]*record.Record, error) {
	now := s.opts.Now().Unix()
	out := map[string]*record.Record{}
	keys := make([]map[string]types.AttributeValue, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, map[string]types.AttributeValue{attrPK: str(pk(store.CallKey{App: app, CallID: id})), attrSK: str(skRecord)})
	}
	for attempt := 0; len(keys) > 0; {
		n := min(len(keys), 100)
		res, err := s.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			s.opts.Table: {Keys: keys[:n], ProjectionExpression: aws.String("st, #t"), ExpressionAttributeNames: map[string]string{"#t": attrTTL}},
		}})
		if err != nil {
			return nil, unavailable("BatchGetItem", err)
		}
		for _, item := range res.Responses[s.opts.Table] {
			r, err := decodeRecord(item, now)
			if err == store.ErrNotFound {
				continue
			}
			if err != nil {
				return nil, err
			}
			out[r.CallID] = &r
		}
		unprocessed := res.UnprocessedKeys[s.opts.Table].Keys
		keys = append(unprocessed, keys[n:]...)
		if len(unprocessed) > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, unavailable("BatchGetItem unprocessed keys", err)
			}
			attempt++
		}
	}
	return out, nil
}

// List returns a page of matching records in index order.
func (s *Store) List(ctx context.Context, q store.Query, after *store.Position, limit, budget int) (store.Page, error) {
	p := store.Page{Records: []record.Record{}}
	h := &hydrator{s: s, ctx: ctx, app: q.App, cache: map[string]*record.Record{}}
	want := func(e entry) bool { return indexMatch(q, e) }
	last, examined, done, err := s.scan(ctx, q, after, budget, limit+1, func(es []entry) (int, bool, error) {
		for i, e := range es {
			if !want(e) {
				continue
			}
			ahead := limit - len(p.Records)
			if needsRecord(q) {
				ahead = max(ahead, 25)
			}
			r, err := h.get(es, i, want, ahead)
			if err != nil {
				return i, false, err
			}
			if r == nil || !q.Filter.Match(r) || !userMatch(q, r) {
				continue
			}
			p.Records = append(p.Records, *r)
			if len(p.Records) == limit {
				return i + 1, false, nil
			}
		}
		return len(es), true, nil
	})
	p.Examined = examined
	if !done {
		p.Next = last
	}
	return p, err
}

// Window counts every match in the range and returns those at [offset, offset+limit).
// On the app index the count comes from the index alone; only the window is read.
func (s *Store) Window(ctx context.Context, q store.Query, offset, limit, budget int) ([]record.Record, int, error) {
	out := []record.Record{}
	total := 0
	h := &hydrator{s: s, ctx: ctx, app: q.App, cache: map[string]*record.Record{}}
	want := func(e entry) bool { return indexMatch(q, e) }
	_, _, done, err := s.scan(ctx, q, nil, budget, 1000, func(es []entry) (int, bool, error) {
		for i, e := range es {
			if !want(e) {
				continue
			}
			inWindow := total >= offset && total < offset+limit
			if inWindow || q.UserID != "" {
				r, err := h.get(es, i, want, 100)
				if err != nil {
					return i, false, err
				}
				if r == nil || !q.Filter.Match(r) || !userMatch(q, r) {
					continue
				}
				if inWindow {
					out = append(out, *r)
				}
			}
			total++
		}
		return len(es), true, nil
	})
	if err == nil && !done {
		err = store.ErrBudget
	}
	return out, total, err
}
