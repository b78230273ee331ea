package dynamostore

import (
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/callkit-records/callkit-records/shared/store"
)

// Index names and key attributes, as declared in template.yaml (CallsTable).
const (
	IndexByApp  = "ByAppTime"
	IndexByUser = "ByUserTime"

	attrPK     = "PK"
	attrSK     = "SK"
	attrGSI1PK = "GSI1PK"
	attrGSI1SK = "GSI1SK"
	attrGSI2PK = "GSI2PK"
	attrGSI2SK = "GSI2SK"
	attrTTL    = "ttl"
	attrVer    = "ver"
	attrState  = "st"
	attrFilter = "f"
	attrRole   = "role"
	attrEvent  = "e"
	attrBody   = "b"

	skRecord     = "#R" // sorts before E# and U#: a collection query reads record, then events
	skEventPref  = "E#"
	skUserPref   = "U#"
	skAfterEvent = "E$" // '$' follows '#': the upper bound of the event sort keys
)

// Item collection of a call: PK = C#<app>#<callId> (the app id is digits, so the first
// '#' after it ends it and call ids may contain '#').
func pk(k store.CallKey) string {
	return "C#" + strconv.FormatUint(k.App, 10) + "#" + k.CallID
}

// dayBucket spreads an app's calls over one index partition per UTC day.
func dayBucket(app uint64, ts int64) string {
	return "A#" + strconv.FormatUint(app, 10) + "#" + time.Unix(ts, 0).UTC().Format("20060102")
}

func userPK(app uint64, user string) string {
	return "U#" + strconv.FormatUint(app, 10) + "#" + user
}

// timeSK orders index entries by time, then call id.
func timeSK(ts int64, callID string) string { return store.Pad10(ts) + "#" + callID }

// parseTimeSK reverses timeSK.
func parseTimeSK(s string) (store.Position, bool) {
	ts, id, ok := strings.Cut(s, "#")
	if !ok || len(ts) != 10 {
		return store.Position{}, false
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return store.Position{}, false
	}
	return store.Position{IndexTs: n, CallID: id}, true
}

func dayStart(ts int64) int64 { return ts - ((ts%store.DaySeconds)+store.DaySeconds)%store.DaySeconds }

func attrString(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}
