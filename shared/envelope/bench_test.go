package envelope_test

import (
	"testing"

	"github.com/callkit-records/callkit-records/shared/envelope"
)

func benchEnvelope() envelope.Envelope {
	return envelope.Envelope{
		ReceivedAt: 1795342822747,
		RequestID:  "6f1c2a9e0b3d-1k3f",
		SDKAppID:   1400000001,
		CallID:     "2b54b7d7-ad68-45e1-9b20-06ce3cb843d3",
		EventKey:   "2b54b7d7-ad68-45e1-9b20-06ce3cb843d3/caller_start_call/alice/1795342500/0123456789abcdef",
		Query:      map[string]string{"sdkappid": "1400000001", "command": "caller_start_call", "contenttype": "json", "clientip": "198.51.100.7", "optplatform": "iOS"},
		Body: []byte(`{"UserId":"alice","RoomId":"room-4711","TotalNum":2,"MediaType":"video","CallType":"single","CallId":"2b54b7d7-ad68-45e1-9b20-06ce3cb843d3",` +
			`"Role":"caller","Event":"start_call","CallResult":"","EventTime":1795342500,"StartCallTs":0,"AcceptTs":0,"EndTs":0}`),
	}
}

// BenchmarkEnvelope measures the queue message codec: Marshal on the webhook, Unmarshal
// in the persister, once per callback each.
func BenchmarkEnvelope(b *testing.B) {
	e := benchEnvelope()
	msg, err := e.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := envelope.Unmarshal(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
