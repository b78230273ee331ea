// Package ingest is the webhook: it authenticates and validates a TUICallKit callback,
// enqueues it durably, and only then acknowledges it in Tencent's format.
package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/config"
	"github.com/callkit-records/callkit-records/shared/envelope"
	"github.com/callkit-records/callkit-records/shared/queue"
	"github.com/callkit-records/callkit-records/shared/reqid"
	"github.com/callkit-records/callkit-records/shared/webhookauth"
)

// Tencent acknowledgement codes (DESIGN §4).
const (
	CodeOK           = 0
	CodeUnavailable  = 1     // non-zero so Tencent retries
	CodeInvalid      = 70001 // bad parameters, auth failures, oversized bodies
	CodeUnparseable  = 70009 // body is not JSON
	DefaultSendLimit = 5 * time.Second
)

// Route prefix of the webhook; "/callback/{token}" when a path token is configured.
const Route = "/callback"

// Routes are the webhook's routes as API Gateway and OpenAPI name them.
var Routes = []string{"POST " + Route, "POST " + Route + "/{token}"}

// Config is what the webhook needs from the service configuration.
type Config struct {
	AppAllowed    func(uint64) bool
	PathToken     string
	CallbackToken string
	MaxBodyBytes  int64
	SignWindow    time.Duration    // default webhookauth.DefaultWindow
	SendTimeout   time.Duration    // default DefaultSendLimit
	Now           func() time.Time // default time.Now
}

// Handler is the webhook http.Handler.
type Handler struct {
	cfg   Config
	queue queue.Sender
	log   *slog.Logger
}

// New returns the webhook handler over q.
func New(cfg Config, q queue.Sender, log *slog.Logger) *Handler {
	if cfg.SignWindow == 0 {
		cfg.SignWindow = webhookauth.DefaultWindow
	}
	if cfg.SendTimeout == 0 {
		cfg.SendTimeout = DefaultSendLimit
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	return &Handler{cfg: cfg, queue: q, log: log}
}

// Acknowledgements: v1 callbacks get Tencent's v1 answer, v4 (Call.CallbackAfter*)
// callbacks the v4 one.
var (
	okBody   = []byte(`{"ErrorCode":0,"ErrorMessage":"Success"}`)
	okBodyV4 = []byte(`{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
)

// reject is a refusal with its HTTP status, Tencent code and a message naming the cause.
type reject struct {
	status  int
	code    int
	message string
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.cfg.Now()
	rid := reqid.From(r.Context())
	if rid == "" {
		rid = reqid.New()
	}
	q := r.URL.Query() // parsed once: it allocates
	v4 := callback.IsV4Request(q)
	cb, rej := h.accept(r, q, rid, start)
	if rej != nil {
		h.log.LogAttrs(r.Context(), levelFor(rej.status), "callback rejected",
			slog.String("requestId", rid), slog.Int("status", rej.status), slog.Int("errorCode", rej.code),
			slog.String("reason", rej.message), slog.String("callId", cb.CallID), slog.String("command", cb.Command.String()))
		writeAck(w, v4, rej.status, rej.code, rej.message)
		return
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "callback accepted",
		slog.String("requestId", rid), slog.Uint64("sdkAppId", cb.SDKAppID), slog.String("callId", cb.CallID),
		slog.String("command", cb.Command.String()), slog.Duration("took", h.cfg.Now().Sub(start)))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if v4 {
		_, _ = w.Write(okBodyV4)
		return
	}
	_, _ = w.Write(okBody)
}

// accept runs every check in the order of DESIGN §4 and enqueues the callback.
func (h *Handler) accept(r *http.Request, q url.Values, rid string, now time.Time) (callback.Callback, *reject) {
	var cb callback.Callback
	if r.Method != http.MethodPost {
		return cb, &reject{http.StatusMethodNotAllowed, CodeInvalid, "method must be POST"}
	}

	appID, err := callback.SDKAppIDFrom(q)
	if err != nil {
		return cb, &reject{http.StatusForbidden, CodeInvalid, err.Error()}
	}
	if !h.cfg.AppAllowed(appID) {
		param := "sdkappid"
		if callback.IsV4Request(q) { // name the parameter the caller sent
			param = "SdkAppid"
		}
		return cb, &reject{http.StatusForbidden, CodeInvalid, param + ": " + strconv.FormatUint(appID, 10) + " is not accepted by this deployment"}
	}
	if rej := h.checkAuth(r, q.Get("Sign"), q.Get("RequestTime"), now); rej != nil {
		return cb, rej
	}

	if r.ContentLength > h.cfg.MaxBodyBytes {
		return cb, tooLarge(h.cfg.MaxBodyBytes)
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	n, err := buf.ReadFrom(io.LimitReader(r.Body, h.cfg.MaxBodyBytes+1))
	if err != nil {
		return cb, &reject{http.StatusBadRequest, CodeUnparseable, "body could not be read"}
	}
	if n > h.cfg.MaxBodyBytes {
		return cb, tooLarge(h.cfg.MaxBodyBytes)
	}
	body := buf.Bytes()

	cb, err = callback.Parse(q, body)
	switch {
	case errors.Is(err, callback.ErrMalformed):
		return cb, &reject{http.StatusBadRequest, CodeUnparseable, err.Error()}
	case err != nil:
		return cb, &reject{http.StatusBadRequest, CodeInvalid, err.Error()}
	}

	key := cb.Key().String()
	env := envelope.Envelope{
		ReceivedAt: now.UnixMilli(),
		RequestID:  rid,
		SDKAppID:   cb.SDKAppID,
		CallID:     cb.CallID,
		EventKey:   key,
		Query:      envelope.QueryMap(q),
		Body:       body,
	}
	msg, err := env.Marshal()
	if err != nil { // body was validated as JSON; this is a bug, not bad input
		return cb, &reject{http.StatusInternalServerError, CodeUnavailable, "internal error"}
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.SendTimeout)
	defer cancel()
	if err := h.queue.Send(ctx, queue.Message{Body: msg, EventKey: key, CallID: cb.CallID}); err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelError, "enqueue failed", slog.String("requestId", rid), slog.String("error", err.Error()))
		return cb, &reject{http.StatusServiceUnavailable, CodeUnavailable, "queue unavailable; retry later"}
	}
	return cb, nil
}

// checkAuth verifies the optional path token and Sign/RequestTime.
func (h *Handler) checkAuth(r *http.Request, sign, reqTime string, now time.Time) *reject {
	token, hasToken := pathToken(r.URL.Path)
	switch {
	case h.cfg.PathToken != "":
		if err := webhookauth.VerifyToken(h.cfg.PathToken, token); err != nil || !hasToken {
			return &reject{http.StatusForbidden, CodeInvalid, "path token: does not match"}
		}
	case hasToken:
		return &reject{http.StatusForbidden, CodeInvalid, "path token: none is configured; post to " + Route}
	}
	if h.cfg.CallbackToken != "" {
		if err := webhookauth.VerifySign(h.cfg.CallbackToken, sign, reqTime, now, h.cfg.SignWindow); err != nil {
			return &reject{http.StatusForbidden, CodeInvalid, "Sign: " + err.Error()}
		}
	}
	return nil
}

// pathToken extracts {token} from "/callback/{token}".
func pathToken(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, Route+"/")
	if !ok {
		return "", false
	}
	return rest, true
}

func tooLarge(limit int64) *reject {
	return &reject{http.StatusRequestEntityTooLarge, CodeInvalid, "body exceeds " + strconv.FormatInt(limit, 10) + " bytes"}
}

func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelWarn
}

type ack struct {
	ErrorCode    int    `json:"ErrorCode"`
	ErrorMessage string `json:"ErrorMessage"`
}

type ackV4 struct {
	ActionStatus string `json:"ActionStatus"`
	ErrorInfo    string `json:"ErrorInfo"`
	ErrorCode    int    `json:"ErrorCode"`
}

// writeAck refuses a callback in its generation's shape (the codes are the same).
func writeAck(w http.ResponseWriter, v4 bool, status, code int, msg string) {
	var b []byte
	if v4 {
		b, _ = json.Marshal(ackV4{"FAIL", msg, code})
	} else {
		b, _ = json.Marshal(ack{code, msg})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// ConfigFrom takes the webhook's settings from the service configuration.
func ConfigFrom(c config.Config) Config {
	return Config{
		AppAllowed:    c.AppAllowed,
		PathToken:     c.PathToken,
		CallbackToken: c.CallbackToken,
		MaxBodyBytes:  c.MaxBodyBytes,
	}
}
