package lambdaemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// InvokePathPrefix and InvokePathSuffix frame the Lambda Invoke API path
// served by the front: POST /2015-03-31/functions/{name}/invocations. The
// RIE uses the name "function"; any name is accepted.
const (
	InvokePathPrefix = "/2015-03-31/functions/"
	InvokePathSuffix = "/invocations"
	// InvokePath is the RIE's invoke URL path.
	InvokePath = InvokePathPrefix + "function" + InvokePathSuffix
)

// ServeInvokeAPI starts an RIE-compatible HTTP front on addr, which must be a
// loopback address ("" or ":0"-style ports pick a free port on 127.0.0.1;
// "localhost" means 127.0.0.1). It returns the server and its base URL
// (e.g. "http://127.0.0.1:41234"); POST {url}/2015-03-31/functions/function/invocations
// invokes the function. The server is also shut down by Close.
//
// Unlike the RIE, function errors set X-Amz-Function-Error (as the real
// Invoke API does), concurrent invokes are queued instead of failing, and
// X-Amz-Invocation-Type "Event" (202, async) and "DryRun" (204) are honoured.
func (f *Function) ServeInvokeAPI(addr string) (*http.Server, string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", fmt.Errorf("lambdaemu: invoke API address %q: %w", addr, err)
	}
	if host == "" || host == "localhost" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, "", fmt.Errorf("lambdaemu: invoke API address %q is not a loopback address", addr)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, "", fmt.Errorf("lambdaemu: invoke API listener: %w", err)
	}
	srv := &http.Server{Handler: f.InvokeHandler(), ReadHeaderTimeout: 30 * time.Second}

	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		_ = ln.Close()
		return nil, "", ErrClosed
	}
	f.fronts = append(f.fronts, srv)
	f.wg.Add(1)
	f.mu.Unlock()
	go func() {
		defer f.wg.Done()
		_ = srv.Serve(ln)
	}()
	return srv, "http://" + ln.Addr().String(), nil
}

// InvokeHandler returns the handler behind ServeInvokeAPI, for use with
// httptest or an existing mux.
func (f *Function) InvokeHandler() http.Handler {
	return http.HandlerFunc(f.serveInvoke)
}

func (f *Function) serveInvoke(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, InvokePathPrefix)
	if ok {
		name, ok = strings.CutSuffix(name, InvokePathSuffix)
	}
	if !ok || name == "" || strings.Contains(name, "/") {
		invokeAPIError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		invokeAPIError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestPayload+1))
	if err != nil {
		invokeAPIError(w, http.StatusBadRequest, "InvalidRequestContentException", err.Error())
		return
	}
	if len(body) > MaxRequestPayload {
		invokeAPIError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException",
			fmt.Sprintf("Request must be smaller than %d bytes for the InvokeFunction operation", MaxRequestPayload))
		return
	}

	switch r.Header.Get("X-Amz-Invocation-Type") {
	case "", "RequestResponse":
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
		return
	case "Event":
		f.mu.Lock()
		closed := f.closed
		if !closed {
			f.wg.Add(1)
		}
		f.mu.Unlock()
		if closed {
			invokeAPIError(w, http.StatusServiceUnavailable, "ServiceException", ErrClosed.Error())
			return
		}
		go func() {
			defer f.wg.Done()
			_, _ = f.Invoke(context.Background(), body)
		}()
		w.WriteHeader(http.StatusAccepted)
		return
	default:
		invokeAPIError(w, http.StatusBadRequest, "InvalidParameterValueException", "unsupported X-Amz-Invocation-Type")
		return
	}

	res, err := f.Invoke(r.Context(), body)
	switch {
	case err == nil:
	case errors.Is(err, ErrPayloadTooLarge):
		invokeAPIError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException", err.Error())
		return
	case errors.Is(err, ErrClosed):
		invokeAPIError(w, http.StatusServiceUnavailable, "ServiceException", err.Error())
		return
	case r.Context().Err() != nil:
		return // client went away
	default:
		invokeAPIError(w, http.StatusInternalServerError, "ServiceException", err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amz-Executed-Version", "$LATEST")
	h.Set("X-Amzn-Requestid", res.RequestID)
	if res.FunctionError != "" {
		h.Set("X-Amz-Function-Error", res.FunctionError)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(res.Payload)
}

// invokeAPIError writes an error in the Lambda API's REST-JSON shape.
func invokeAPIError(w http.ResponseWriter, status int, errType, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", errType)
	w.WriteHeader(status)
	b, _ := json.Marshal(struct {
		Type    string `json:"Type"`
		Message string `json:"message"`
	}{"User", msg})
	_, _ = w.Write(b)
}
