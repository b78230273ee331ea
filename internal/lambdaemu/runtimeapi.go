package lambdaemu

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Runtime API paths and headers (API version 2018-06-01).
const (
	runtimePrefix   = "/2018-06-01/runtime/"
	pathNext        = runtimePrefix + "invocation/next"
	pathInitError   = runtimePrefix + "init/error"
	invocationPfx   = runtimePrefix + "invocation/"
	hdrRequestID    = "Lambda-Runtime-Aws-Request-Id"
	hdrDeadline     = "Lambda-Runtime-Deadline-Ms"
	hdrFunctionArn  = "Lambda-Runtime-Invoked-Function-Arn"
	hdrTraceID      = "Lambda-Runtime-Trace-Id"
	hdrErrorType    = "Lambda-Runtime-Function-Error-Type"
	trailerErrBody  = "Lambda-Runtime-Function-Error-Body"
	maxErrorPayload = MaxResponsePayload
)

// ServeHTTP implements the Runtime API for one process.
func (p *process) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == pathNext:
		if r.Method != http.MethodGet {
			methodNotAllowed(w, http.MethodGet)
			return
		}
		p.handleNext(w, r)
	case path == pathInitError:
		if r.Method != http.MethodPost {
			methodNotAllowed(w, http.MethodPost)
			return
		}
		p.handleInitError(w, r)
	case strings.HasPrefix(path, invocationPfx):
		rest := strings.TrimPrefix(path, invocationPfx)
		i := strings.LastIndexByte(rest, '/')
		if i <= 0 {
			notFound(w)
			return
		}
		id, action := rest[:i], rest[i+1:]
		if action != "response" && action != "error" {
			notFound(w)
			return
		}
		if r.Method != http.MethodPost {
			methodNotAllowed(w, http.MethodPost)
			return
		}
		p.handleAnswer(w, r, id, action == "error")
	default:
		notFound(w)
	}
}

func (p *process) handleNext(w http.ResponseWriter, r *http.Request) {
	p.readyOnce.Do(func() {
		p.readyAt = time.Now()
		close(p.ready)
		p.f.mu.Lock()
		p.f.stats.LastInitDuration = p.readyAt.Sub(p.start)
		p.f.mu.Unlock()
	})
	var inv *invocation
	select {
	case inv = <-p.invCh:
	case <-r.Context().Done():
		return
	case <-p.exited:
		return
	}
	now := time.Now()
	inv.deliveredAt = now
	inv.deadline = now.Add(p.f.cfg.Timeout)
	p.mu.Lock()
	p.current = inv
	p.mu.Unlock()
	close(inv.delivered)

	h := w.Header()
	h.Set(hdrRequestID, inv.id)
	h.Set(hdrDeadline, strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set(hdrFunctionArn, p.f.arn)
	h.Set(hdrTraceID, inv.traceID)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(inv.payload)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.payload)
}

// handleAnswer serves .../{id}/response and .../{id}/error.
func (p *process) handleAnswer(w http.ResponseWriter, r *http.Request, id string, isError bool) {
	p.mu.Lock()
	inv := p.current
	lastDone := p.lastDone
	p.mu.Unlock()
	if inv == nil || inv.id != id {
		if id == lastDone {
			apiError(w, http.StatusForbidden, "InvalidStateTransition",
				fmt.Sprintf("Invocation %s has already been answered or has timed out", id))
			return
		}
		apiError(w, http.StatusBadRequest, "InvalidRequestID",
			fmt.Sprintf("Invalid request ID: %q", id))
		return
	}

	limit := int64(MaxResponsePayload)
	if isError {
		limit = maxErrorPayload
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	tooLarge := int64(len(body)) > limit
	if err != nil && !tooLarge {
		apiError(w, http.StatusBadRequest, "InvalidRequest", "reading body: "+err.Error())
		return
	}

	var out outcome
	switch {
	case tooLarge:
		out = outcome{isError: true, payload: errorDoc("Function.ResponseSizeTooLarge",
			fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxResponsePayload))}
	case isError:
		out = outcome{isError: true, payload: normalizeErrorPayload(body, r.Header.Get(hdrErrorType))}
	default:
		// A streamed response whose producer failed carries the error in
		// trailers (aws-lambda-go sets them when the body reader fails).
		if et := r.Trailer.Get(hdrErrorType); et != "" {
			eb, _ := base64.StdEncoding.DecodeString(r.Trailer.Get(trailerErrBody))
			out = outcome{isError: true, payload: normalizeErrorPayload(eb, et)}
		} else {
			out = outcome{payload: body}
		}
	}

	p.mu.Lock()
	if p.current != inv {
		p.mu.Unlock()
		apiError(w, http.StatusForbidden, "InvalidStateTransition",
			fmt.Sprintf("Invocation %s has already been answered or has timed out", id))
		return
	}
	p.current = nil
	p.lastDone = id
	p.mu.Unlock()
	out.at = time.Now()
	inv.done <- out

	if tooLarge {
		apiError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
			fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxResponsePayload))
		return
	}
	accepted(w)
}

func (p *process) handleInitError(w http.ResponseWriter, r *http.Request) {
	if p.isReady() {
		apiError(w, http.StatusForbidden, "InvalidStateTransition",
			"init/error is only accepted before the first /runtime/invocation/next")
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxErrorPayload))
	payload := normalizeErrorPayload(body, r.Header.Get(hdrErrorType))
	if !hasErrorType(payload) {
		payload = errorDoc("Runtime.InitError", string(body))
	}
	first := false
	p.initFailOnce.Do(func() {
		first = true
		p.initErrPayload = payload
		close(p.initFailed)
	})
	if !first {
		apiError(w, http.StatusForbidden, "InvalidStateTransition", "init error already reported")
		return
	}
	accepted(w)
}

// normalizeErrorPayload returns body when it is a JSON object (what runtimes
// send: {"errorMessage","errorType","stackTrace"}), filling in errorType from
// the Lambda-Runtime-Function-Error-Type header when the body lacks one;
// otherwise it wraps the raw body in an error document.
func normalizeErrorPayload(body []byte, headerType string) []byte {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) == nil && obj != nil {
		if _, ok := obj["errorType"]; !ok && headerType != "" {
			obj["errorType"], _ = json.Marshal(headerType)
			if b, err := json.Marshal(obj); err == nil {
				return b
			}
		}
		return body
	}
	if headerType == "" {
		headerType = "Runtime.Unknown"
	}
	return errorDoc(headerType, string(body))
}

func hasErrorType(payload []byte) bool {
	var doc struct {
		ErrorType string `json:"errorType"`
	}
	return json.Unmarshal(payload, &doc) == nil && doc.ErrorType != ""
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func apiError(w http.ResponseWriter, status int, errType, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(errorDoc(errType, msg))
}

func notFound(w http.ResponseWriter) {
	apiError(w, http.StatusNotFound, "NotFound", "unknown Runtime API path")
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	apiError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "method not allowed")
}
