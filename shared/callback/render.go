package callback

import (
	"encoding/json"
	"net/url"
	"strconv"
)

// wireBody is the v1 callback body as Tencent sends it.
type wireBody struct {
	UserId      string `json:"UserId"`
	RoomId      string `json:"RoomId"`
	TotalNum    int    `json:"TotalNum"`
	MediaType   string `json:"MediaType"`
	CallType    string `json:"CallType"`
	CallId      string `json:"CallId"`
	Role        string `json:"Role"`
	Event       string `json:"Event,omitempty"`
	CallResult  string `json:"CallResult"`
	EventTime   int64  `json:"EventTime"`
	StartCallTs int64  `json:"StartCallTs"`
	AcceptTs    int64  `json:"AcceptTs"`
	EndTs       int64  `json:"EndTs"`
}

// Render produces the query parameters and JSON body Tencent would send for c; Parse of
// the result gives c back. Used by the load generator, the replay tool and tests.
func (c *Callback) Render() (url.Values, []byte) {
	if c.V4 != nil {
		return c.renderV4()
	}
	q := url.Values{}
	q.Set("sdkappid", strconv.FormatUint(c.SDKAppID, 10))
	q.Set("command", c.Command.String())
	q.Set("contenttype", "json")
	if c.ClientIP != "" {
		q.Set("clientip", c.ClientIP)
	}
	if c.OptPlatform != "" {
		q.Set("optplatform", c.OptPlatform)
	}
	body, _ := json.Marshal(wireBody{
		UserId: c.UserID, RoomId: c.RoomID, TotalNum: c.TotalNum,
		MediaType: c.MediaType.String(), CallType: c.CallType.String(), CallId: c.CallID,
		Role: c.Role.String(), Event: c.Event, CallResult: c.CallResult.String(),
		EventTime: c.EventTime, StartCallTs: c.StartCallTs, AcceptTs: c.AcceptTs, EndTs: c.EndTs,
	})
	return q, body
}
